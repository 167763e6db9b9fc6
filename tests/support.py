"""Helpers shared by tests (importable: `pythonpath = ["tests"]`)."""

from __future__ import annotations

import contextlib
import random
import string
from collections.abc import AsyncIterator

from aiohttp import web

from graph.nino import PREFIXES


def random_nino(rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return f"{rng.choice(PREFIXES)}{rng.randrange(1_000_000):06d}{rng.choice('ABCD')}"


def unique_family() -> str:
    """A family name no other test uses (letters only, as names must be)."""
    return "Test" + "".join(random.SystemRandom().choice(string.ascii_lowercase) for _ in range(12))


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app (a real upstream for tests) on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
