"""Helpers shared by tests (importable: `pythonpath = ["tests"]`)."""

from __future__ import annotations

import random
import string

from graph.nino import PREFIXES


def random_nino(rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return f"{rng.choice(PREFIXES)}{rng.randrange(1_000_000):06d}{rng.choice('ABCD')}"


def unique_family() -> str:
    """A family name no other test uses (letters only, as names must be)."""
    return "Test" + "".join(random.SystemRandom().choice(string.ascii_lowercase) for _ in range(12))
