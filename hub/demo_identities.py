"""Demo mode: a linkage model and a handful of another register's records, so the review queue has work.

`hub serve --demo` seeds people but no source has sent records to link, so the steward console's
identity review queue would be empty. This makes a small, deterministic set of external records
(copies of seeded people damaged by `hub.corruption.Corruptor`: nicknames, typos, a move of house)
and puts them through the real resolver under the source `demo-register`: the clear ones are linked
automatically, the doubtful ones wait in the queue. When no model is in use yet, one is trained first
on the core record and a sample of such copies (the code behind `hub identities train`).

Idempotent: a model in use is kept, and resolving an external id again adds nothing (the resolver
answers "already linked", and queue candidates are merged, not duplicated).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from graph.driver import Graph
from graph.linkage.errors import InvalidRecord
from graph.linkage.features import MatchRecord, parse_external
from graph.linkage.links import candidates_for_identity
from graph.linkage.records import core_records
from graph.linkage.resolver import ExternalRecord, Resolver
from hub.corruption import Corruptor
from hub.linkage import CURRENT, LinkageConfig, load_current_model, save_model, train
from hub.seed import TODAY, Pools

SOURCE = "demo-register"
TRAINING_SAMPLE = 300  # corrupted copies the demo model is trained on (Splink needs at least 100)
# The damage done to each resolved record: the light ones (a nickname, a typo, the address written
# differently) are linked automatically, the heavy ones (a move, a married name and a move, a mistyped
# date and a move) mostly queued. Measured against the thresholds in bits (22 / 10) on a 600-person
# register: the light ones linked 8-11 times in 12, the heavy ones queued 10-12 times in 12.
DEMO_DAMAGE: tuple[tuple[str, ...], ...] = (
    ("nickname",),
    ("given_typo",),
    ("address_variant",),
    ("moved",),
    ("family_changed", "moved_nearby"),
    ("dob_typo", "moved"),
    ("nickname",),
    ("family_changed", "moved_nearby"),
    ("dob_typo", "moved"),
    ("nickname", "moved"),
)


@dataclass(frozen=True, slots=True)
class _Seeded:
    """A seeded person as another register would have them (title case), for the corruptor."""

    id: str
    given: str
    family: str
    born: date
    line1: str
    postcode: str


@dataclass(frozen=True, slots=True)
class DemoIdentities:
    trained: str | None  # the version of a model trained now; None when one was already in use
    train_seconds: float
    outcomes: dict[str, int]  # new decisions this run, by outcome (auto_link / review / no_link)


def _people(records: Sequence[tuple[str, MatchRecord]]) -> list[_Seeded]:
    people = []
    for pid, r in records:
        if r.given_name and r.family_name and r.date_of_birth and r.postcode and r.address_line:
            people.append(
                _Seeded(
                    pid,
                    r.given_name.title(),
                    r.family_name.title(),
                    date.fromisoformat(r.date_of_birth),
                    r.address_line.title(),
                    r.postcode,
                )
            )
    return people


@functools.cache
def _pools(seed: int) -> Pools:
    return Pools.build(seed)  # most of a second: built once for training and resolving


def has_model(config: LinkageConfig) -> bool:
    return (config.models_dir / CURRENT).exists()


async def _core(graph: Graph) -> tuple[list[tuple[str, MatchRecord]], list[_Seeded]]:
    core = sorted(((c.person_id, c.record) for c in await core_records(graph)), key=lambda pr: pr[0])
    return core, _people(core)


async def ensure_model(graph: Graph, config: LinkageConfig, seed: int = 42) -> tuple[str | None, float]:
    """Train and save a model on the core record and corrupted copies, unless one is in use already.

    Returns the new model's version (None when one was in use) and the seconds it took.
    """
    if has_model(config):
        return None, 0.0
    started = time.perf_counter()
    core, people = await _core(graph)
    rng = random.Random(seed)
    corruptor = Corruptor(rng, _pools(seed))
    sample = []
    for i, person in enumerate(rng.sample(people, min(TRAINING_SAMPLE, len(people)))):
        fields, _ = corruptor.copy(person)
        try:
            sample.append((f"training-{i}", parse_external(fields, today=TODAY)))
        except InvalidRecord:
            continue
    document = train(core, sample, config.training)
    save_model(document, config.models_dir)
    return str(document["version"]), time.perf_counter() - started


async def resolve_demo_records(graph: Graph, config: LinkageConfig, seed: int = 42) -> dict[str, int]:
    """Resolve `DEMO_DAMAGE` copies of seeded people as `demo-register` records; new decisions by outcome.

    A record already linked or already waiting for a steward is left alone.
    """
    model = load_current_model(config.models_dir)
    resolver = Resolver(graph, model, config.thresholds, actor="demo")
    _, people = await _core(graph)
    rng = random.Random(seed + 1)
    corruptor = Corruptor(rng, _pools(seed))
    chosen = rng.sample(people, min(len(DEMO_DAMAGE), len(people)))
    outcomes: dict[str, int] = {}
    for n, (person, damage) in enumerate(zip(chosen, DEMO_DAMAGE, strict=False)):
        fields, _ = corruptor.copy(person, forced=damage)  # drawn every time, so the next record's are the same
        external_id = f"DR-{n + 1:04d}"
        if await candidates_for_identity(graph, SOURCE, external_id):
            continue
        try:
            decision = await resolver.resolve(ExternalRecord(SOURCE, external_id, fields))
        except InvalidRecord:
            continue
        if decision.existing:
            continue
        outcomes[decision.outcome.value] = outcomes.get(decision.outcome.value, 0) + 1
    return outcomes


async def seed_demo_identities(graph: Graph, config: LinkageConfig, seed: int = 42) -> DemoIdentities:
    """A model (trained if none is in use) and the demo register's records resolved; see the module docstring."""
    trained, seconds = await ensure_model(graph, config, seed)
    return DemoIdentities(trained, seconds, await resolve_demo_records(graph, config, seed))
