"""Identity resolution, measured: a labelled set, the hub's real-time linking, and Splink beside it.

    python -m bench.linkage [--people 20000] [--external 5000] [--seed 7] [--data-dir .data/bench-linkage]
    python -m bench.linkage --sweep-only .data/bench-linkage/ranked-20000-7.jsonl [--sweep-review 8 10]

1. Generates a labelled set (deterministic per seed): core people in households (`hub.seed`'s
   generator and Faker en_GB pools) plus the hard cases of a real register — twins (same family
   name, date of birth and address, different given names), a father and son with the same name at
   the same address, unrelated people with a common name in the same postcode — and external copies
   of some of them with realistic corruption (typos, nicknames, initials, swapped name order,
   transposed or mistyped dates, moved house, missing fields), plus records of people who are not in
   the core record at all.
2. Starts the embedded graph, writes the core people (idempotent), trains the model with Splink on
   the core and the external records (the labels never reach training), and saves it.
3. Links every external record in real time through `graph.linkage.resolver` (indexed blocking in
   Cypher, the hub's scorer, the thresholds of config/linkage.yaml) and times each one.
   Then links the same records again as a bulk extract (`hub.linking`, the code behind
   `hub identities link`: JSON lines, a batch at a time, several records at once) under a fresh source,
   for the bulk rate beside the one-after-another real-time rate.
4. Runs Splink's own batch prediction on the same data and model, and Splink's one-record inference
   on a sample, in the same run.
5. Prints precision, recall and F1 of automatic links, coverage of automatic + queued, the review
   share and the hard cases linked wrongly — for the hub, and for Splink's batch output read with
   the same two thresholds (every pair, and each record's best pair) — then how often blocking found
   the true person, the latencies, Splink's batch time and its one-record time.
6. The threshold sweep: each record's candidates, ranked with their evidence (bits: match weight less
   the prior's), decided again at every (auto, review) pair of a grid with the margin and truncation
   rules of the resolver, and scored on the labels; saved as `ranked-<people>-<seed>.jsonl` in the
   data directory, which `--sweep-only FILE` re-reads at another grid without re-running anything.
   Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from graph.bulk import Batch, done_batches, write_batch
from graph.driver import Graph, Tx
from graph.linkage.blocking import MAX_CANDIDATES, BlockingKeys, Candidate, find_candidates
from graph.linkage.decision import Decision, ScoredCandidate, Thresholds, decide
from graph.linkage.features import MatchRecord, jaro_winkler, make_record, normalise_name, parse_external
from graph.linkage.model import LinkageModel, Score, prob_to_match_weight, weight_to_probability
from graph.linkage.nicknames import NAME_GROUPS
from graph.linkage.records import count_core
from graph.linkage.resolver import ExternalRecord, Resolver, blocking_keys, when_truncated
from graph.migrations import migrate
from graph.models import full_name_key, name_key
from hub.app import connect_graph
from hub.corruption import Corruptor
from hub.embedded import EmbeddedError
from hub.linkage import (
    LinkageSetupError,
    TrainingOptions,
    arrow_table,
    load_config,
    save_model,
    splink_session,
    train,
)
from hub.linking import BulkReport, link_file
from hub.seed import TODAY, HouseholdGenerator, nino_for
from hub.services import running_services
from hub.settings import SettingsError, load_settings

_NAMESPACE = uuid.UUID("0d5f3c1e-7a4b-4c55-9b0e-6e2f8a1d4c37")
HARD_SLOT_BASE = 9_000_000  # NINO slots for hard cases, far above any household's
COMMON_GIVEN = ("James", "John", "David", "Michael", "Sarah", "Emma", "Mohammed", "Jack")
COMMON_FAMILY = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Khan", "Davies")


# ----------------------------------------------------------------------------------------------------
# The labelled set
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorePerson:
    id: str
    nino: str
    given: str
    family: str
    born: date
    line1: str
    postcode: str

    def record(self) -> MatchRecord:
        return make_record(self.given, self.family, self.born, self.postcode, self.line1)


@dataclass(frozen=True, slots=True)
class ExternalCase:
    """One external record and the truth about it."""

    external_id: str
    fields: dict[str, Any]  # as a source sends them: camelCase, ISO date text
    person_id: str | None  # the core person it describes; None when they are not in the core record
    kind: str  # copy | twin | father_son | common_name | unmatched
    corruptions: tuple[str, ...]
    confusable: tuple[str, ...] = ()  # core people it must never be linked to automatically


@dataclass(slots=True)
class LabelledSet:
    seed: int
    core: list[CorePerson]
    external: list[ExternalCase]
    batches: list[Batch] = field(default_factory=list)

    def core_records(self) -> list[tuple[str, MatchRecord]]:
        return [(p.id, p.record()) for p in self.core]

    def external_records(self) -> list[tuple[str, MatchRecord]]:
        """External records normalised as the resolver normalises them (for training and Splink)."""
        return [(c.external_id, parse_external(c.fields, today=TODAY)) for c in self.external]


@dataclass(frozen=True, slots=True)
class Trained:
    """A labelled set and the model trained on it (the labels never reach training)."""

    labelled: LabelledSet
    document: dict[str, Any]
    model: LinkageModel


def train_on(labelled: LabelledSet, options: TrainingOptions | None = None) -> Trained:
    document = train(labelled.core_records(), labelled.external_records(), options)
    return Trained(labelled, document, LinkageModel(document))


def _distinct_names(rng: random.Random, pool: Sequence[str], count: int) -> list[str]:
    """Names a parent would give siblings: no nickname of one another, not near-spellings."""
    chosen: list[str] = []
    while len(chosen) < count:
        name = rng.choice(pool)
        key = normalise_name(name) or ""
        if any(
            jaro_winkler(key, normalise_name(c) or "") >= 0.8
            or set(NAME_GROUPS.get(key, ())) & set(NAME_GROUPS.get(normalise_name(c) or "", ()))
            or key[0] == (normalise_name(c) or "?")[0]
            for c in chosen
        ):
            continue
        chosen.append(name)
    return chosen


def generate(
    people: int,
    seed: int = 7,
    *,
    external: int | None = None,
    unmatched_share: float = 0.1,
    hard_cases: int | None = None,
) -> LabelledSet:
    """A labelled set of about `people` core people and `external` external records (default: half)."""
    rng = random.Random(seed)
    households = HouseholdGenerator(seed)
    pools = households.pools
    core: list[CorePerson] = []
    batches: list[Batch] = []
    for batch, _ in households.batches(people):
        batches.append(batch)
        core.extend(_people_of(batch))
    wanted = external if external is not None else people // 2
    # about 2% of the external records per kind of hard case (6% in all): rarer in a register, but
    # enough of each to be measured
    hard_count = hard_cases if hard_cases is not None else max(6, wanted // 100)
    hard = Batch(key=f"linkage:{seed}:hard-cases:{hard_count}")
    cases: list[ExternalCase] = []
    corrupt = Corruptor(rng, pools)
    counter = iter(range(10**9))

    def ext_id() -> str:
        return f"ext-{seed}-{next(counter)}"

    slot = (seed % 100) * 10_000_000 + HARD_SLOT_BASE
    made: list[CorePerson] = []

    def person(given: str, family: str, born: date, address: dict[str, Any]) -> CorePerson:
        nonlocal slot
        slot += 1
        p = CorePerson(
            id=str(uuid.uuid5(_NAMESPACE, f"{seed}:{slot}")),
            nino=nino_for(slot),
            given=given,
            family=family,
            born=born,
            line1=address["props"]["line1"],
            postcode=address["props"]["postcode"],
        )
        _add_person(hard, p, address["id"])
        made.append(p)
        return p

    def address(postcode: str | None = None) -> dict[str, Any]:
        a = {
            "id": str(uuid.uuid5(_NAMESPACE, f"address:{seed}:{slot}:{len(hard.addresses)}")),
            "props": {
                "line1": f"{rng.randint(1, 250)} {rng.choice(pools.streets)}",
                "line2": None,
                "town": rng.choice(pools.towns),
                "postcode": postcode or rng.choice(pools.postcodes),
            },
        }
        hard.addresses.append(a)
        return a

    def born_between(min_age: int, max_age: int) -> date:
        return TODAY - timedelta(days=rng.randint(min_age * 365, max_age * 365 + 364))

    for _ in range(hard_count):
        # twins: same family name, date of birth and address; different given names
        family = rng.choice(pools.family)
        home = address()
        born = born_between(2, 70)
        names = _distinct_names(rng, pools.female if rng.random() < 0.5 else pools.male, 2)
        if rng.random() < 0.3:
            names = _distinct_names(rng, pools.female, 1) + _distinct_names(rng, pools.male, 1)
        a, b = person(names[0], family, born, home), person(names[1], family, born, home)
        for me, other in ((a, b), (b, a)):
            fields, applied = corrupt.copy(me)
            cases.append(ExternalCase(ext_id(), fields, me.id, "twin", applied, (other.id,)))
        # father and son: same name, same address, a generation apart
        family = rng.choice(pools.family)
        home = address()
        given = rng.choice(pools.male)
        father = person(given, family, born_between(45, 75), home)
        son_born = father.born + timedelta(days=rng.randint(20 * 365, 35 * 365))
        son = person(given, family, min(son_born, TODAY - timedelta(days=365)), home)
        for me, other in ((father, son), (son, father)):
            fields, applied = corrupt.copy(me)
            cases.append(ExternalCase(ext_id(), fields, me.id, "father_son", applied, (other.id,)))
        # a common name twice in one postcode: unrelated people, different houses and birthdays
        given, family = rng.choice(COMMON_GIVEN), rng.choice(COMMON_FAMILY)
        postcode = rng.choice(pools.postcodes)
        first = person(given, family, born_between(18, 80), address(postcode))
        second = person(given, family, born_between(18, 80), address(postcode))
        for me, other in ((first, second), (second, first)):
            fields, applied = corrupt.copy(me)
            cases.append(ExternalCase(ext_id(), fields, me.id, "common_name", applied, (other.id,)))
    hard.people.sort(key=lambda r: r["id"])
    batches.append(hard)
    core.extend(made)

    unmatched = round(wanted * unmatched_share)
    copies = max(wanted - unmatched - len(cases), 0)
    chosen = rng.sample(core[: len(core) - len(made)], min(copies, len(core) - len(made)))
    for p in chosen:
        fields, applied = corrupt.copy(p)
        cases.append(ExternalCase(ext_id(), fields, p.id, "copy", applied))
    for _ in range(unmatched):
        stranger = CorePerson(
            id="",
            nino="",
            given=rng.choice(pools.female if rng.random() < 0.5 else pools.male),
            family=rng.choice(pools.family),
            born=born_between(18, 85),
            line1=f"{rng.randint(1, 250)} {rng.choice(pools.streets)}",
            postcode=rng.choice(pools.postcodes),
        )
        fields, applied = corrupt.copy(stranger)
        cases.append(ExternalCase(ext_id(), fields, None, "unmatched", applied))
    rng.shuffle(cases)
    return LabelledSet(seed=seed, core=core, external=cases, batches=batches)


def _people_of(batch: Batch) -> list[CorePerson]:
    """Core people of a household batch with their current address."""
    addresses = {a["id"]: a["props"] for a in batch.addresses}
    current = {r["person"]: addresses[r["address"]] for r in batch.residences if r["to"] is None}
    return [
        CorePerson(
            id=p["id"],
            nino=p["props"]["nino"],
            given=p["props"]["givenName"],
            family=p["props"]["familyName"],
            born=p["props"]["dateOfBirth"],
            line1=current[p["id"]]["line1"],
            postcode=current[p["id"]]["postcode"],
        )
        for p in batch.people
    ]


def _add_person(batch: Batch, p: CorePerson, address_id: str) -> None:
    """Add a hard-case person with the same properties a seeded person has."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    batch.people.append(
        {
            "id": p.id,
            "props": {
                "nino": p.nino,
                "givenName": p.given,
                "familyName": p.family,
                "givenNameKey": name_key(p.given),
                "familyNameKey": name_key(p.family),
                "fullNameKey": full_name_key(name_key(p.given), name_key(p.family)),
                "dateOfBirth": p.born,
                "status": "ACTIVE",
                "createdAt": created,
                "updatedAt": created,
                "version": 1,
            },
        }
    )
    batch.residences.append({"person": p.id, "address": address_id, "from": p.born, "to": None})


# ----------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """Counts over external records for one way of deciding."""

    matches: int = 0  # external records whose person is in the core record
    auto: int = 0
    auto_correct: int = 0
    queued: int = 0
    covered: int = 0  # true person auto-linked or among the queued candidates
    hard_wrong_auto: list[str] = field(default_factory=list)

    def precision(self) -> float:
        return self.auto_correct / self.auto if self.auto else 1.0

    def recall(self) -> float:
        return self.auto_correct / self.matches if self.matches else 1.0

    def f1(self) -> float:
        p, r = self.precision(), self.recall()
        return 2 * p * r / (p + r) if p + r else 0.0

    def coverage(self) -> float:
        return self.covered / self.matches if self.matches else 1.0


def tally_decisions(cases: Sequence[ExternalCase], decisions: Sequence[Any]) -> Tally:
    """Score the hub's decisions (graph.linkage.decision.Decision) against the labels."""
    t = Tally()
    for case, d in zip(cases, decisions, strict=True):
        if case.person_id is not None:
            t.matches += 1
        if d.outcome == "AUTO_LINK":
            t.auto += 1
            if d.person_id == case.person_id:
                t.auto_correct += 1
                t.covered += 1
            if d.person_id in case.confusable:
                t.hard_wrong_auto.append(f"{case.kind} {case.external_id} -> {d.person_id}")
        elif d.outcome == "REVIEW":
            t.queued += 1
            if case.person_id is not None and any(c.person_id == case.person_id for c in d.candidates):
                t.covered += 1
    return t


def tally_pairs(
    cases: Sequence[ExternalCase], pairs: dict[str, list[tuple[str, float]]], auto: float, review: float
) -> Tally:
    """Score plain pairwise thresholds (Splink's batch output): every pair >= auto is a link."""
    t = Tally()
    for case in cases:
        if case.person_id is not None:
            t.matches += 1
        scored = pairs.get(case.external_id, [])
        links = [pid for pid, p in scored if p >= auto]
        queued = [pid for pid, p in scored if review <= p < auto]
        t.auto += len(links)
        t.auto_correct += sum(1 for pid in links if pid == case.person_id)
        t.hard_wrong_auto += [f"{case.kind} {case.external_id} -> {pid}" for pid in links if pid in case.confusable]
        if queued:
            t.queued += 1
        if case.person_id is not None and (case.person_id in links or case.person_id in queued):
            t.covered += 1
    return t


def tally_best_pair(
    cases: Sequence[ExternalCase], pairs: dict[str, list[tuple[str, float]]], auto: float, review: float
) -> Tally:
    """Thresholds on each record's best-scoring pair only (one link per record, no margin rule)."""
    t = Tally()
    for case in cases:
        if case.person_id is not None:
            t.matches += 1
        scored = sorted(pairs.get(case.external_id, []), key=lambda x: x[1], reverse=True)
        if not scored or scored[0][1] < review:
            continue
        best, p = scored[0]
        if p >= auto:
            t.auto += 1
            if best == case.person_id:
                t.auto_correct += 1
                t.covered += 1
            if best in case.confusable:
                t.hard_wrong_auto.append(f"{case.kind} {case.external_id} -> {best}")
        else:
            t.queued += 1
            if case.person_id in [pid for pid, q in scored if q >= review]:
                t.covered += 1
    return t


# ----------------------------------------------------------------------------------------------------
# The threshold sweep
# ----------------------------------------------------------------------------------------------------

SWEEP_AUTO_BITS = (16.0, 18.0, 20.0, 22.0, 24.0, 26.0, 28.0)
SWEEP_REVIEW_BITS = (6.0, 8.0, 10.0, 12.0, 14.0)
TARGET_PRECISION, TARGET_RECALL, TARGET_COVERAGE = 0.999, 0.97, 0.995  # issue 12's "done when"


def meets_targets(t: Tally) -> bool:
    return (
        t.precision() >= TARGET_PRECISION
        and t.recall() >= TARGET_RECALL
        and t.coverage() >= TARGET_COVERAGE
        and not t.hard_wrong_auto
    )


def sweep(
    cases: Sequence[ExternalCase],
    ranked: Sequence[Ranked],
    auto_grid: Sequence[float],
    review_grid: Sequence[float],
    margin: float,
) -> list[tuple[Thresholds, Tally]]:
    """Every (auto, review) pair of the grid applied to the records' ranked candidates, scored on the labels."""
    out = []
    for auto in auto_grid:
        for review in review_grid:
            if review <= auto:
                thresholds = Thresholds(auto_link_bits=auto, review_bits=review, margin=margin)
                out.append((thresholds, tally_decisions(cases, [r.decide(thresholds) for r in ranked])))
    return out


def save_ranked(path: Path, cases: Sequence[ExternalCase], ranked: Sequence[Ranked], prior_weight: float) -> None:
    """Each record's truth and ranked candidates (person, evidence, match weight), for `--sweep-only`."""
    with path.open("wb") as out:
        out.write(orjson.dumps({"priorWeight": prior_weight}) + b"\n")
        for case, r in zip(cases, ranked, strict=True):
            row = {
                "id": case.external_id,
                "kind": case.kind,
                "person": case.person_id,
                "confusable": list(case.confusable),
                "truncated": r.truncated,
                "candidates": [[c.person_id, c.score.evidence, c.score.match_weight] for c in r.scored],
            }
            out.write(orjson.dumps(row) + b"\n")


def load_ranked(path: Path) -> tuple[list[ExternalCase], list[Ranked], float]:
    lines = path.read_bytes().splitlines()
    prior_weight = float(orjson.loads(lines[0])["priorWeight"])
    cases, ranked = [], []
    for line in lines[1:]:
        row = orjson.loads(line)
        cases.append(ExternalCase(row["id"], {}, row["person"], row["kind"], (), tuple(row["confusable"])))
        scored = tuple(
            ScoredCandidate(pid, Score(weight, weight_to_probability(weight), weight - evidence, ()))
            for pid, evidence, weight in row["candidates"]
        )
        ranked.append(Ranked(scored, row["truncated"]))
    return cases, ranked, prior_weight


def report_sweep(
    console: Console,
    cases: Sequence[ExternalCase],
    ranked: Sequence[Ranked],
    prior_weight: float,
    chosen: Thresholds,
    auto_grid: Sequence[float],
    review_grid: Sequence[float],
) -> None:
    """Where the true person ranks and with how much evidence, then precision / recall / coverage over a grid."""
    best_true, best_other, true_lower, true_missing = [], [], 0, 0
    for case, r in zip(cases, ranked, strict=True):
        if not r.scored:
            true_missing += case.person_id is not None
            continue
        best = r.scored[0]
        if case.person_id is not None and best.person_id == case.person_id:
            best_true.append(best.score.evidence)
        else:
            best_other.append(best.score.evidence)
            if case.person_id is not None:
                found = any(c.person_id == case.person_id for c in r.scored)
                true_lower += found
                true_missing += not found

    def spread(values: list[float], qs: Sequence[float]) -> str:
        return ", ".join(f"p{q * 100:g} {percentile(values, q):.1f}" for q in qs) if values else "none"

    console.print(
        f"evidence of each record's best candidate (bits; prior weight {prior_weight:.2f}): the true person "
        f"({len(best_true):,}) {spread(best_true, (0.001, 0.01, 0.03, 0.05, 0.5))}; someone else "
        f"({len(best_other):,}: {true_lower:,} with the true person ranked lower, the rest unmatched or not found) "
        f"{spread(best_other, (0.5, 0.9, 0.99, 1.0))}; true person not among the candidates: {true_missing:,}"
    )
    table = Table(
        title=f"threshold sweep over {len(cases):,} records (margin {chosen.margin:g} bits; "
        f"targets: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}, "
        f"auto + queued >= {TARGET_COVERAGE}, no hard case auto-linked)"
    )
    for column in (
        "auto bits",
        "review bits",
        "auto p here",
        "precision",
        "recall",
        "auto + queued",
        "review share",
        "hard wrong",
        "meets",
    ):
        table.add_column(column, justify="right")
    for t, tally in sweep(cases, ranked, auto_grid, review_grid, chosen.margin):
        mark = "[bold]" if (t.auto_link_bits, t.review_bits) == (chosen.auto_link_bits, chosen.review_bits) else ""
        table.add_row(
            f"{mark}{t.auto_link_bits:g}",
            f"{t.review_bits:g}",
            f"{t.probabilities(prior_weight)[0]:.6f}",
            f"{tally.precision():.4f}",
            f"{tally.recall():.4f}",
            f"{tally.coverage():.4f}",
            f"{tally.queued / len(cases):.3f}",
            str(len(tally.hard_wrong_auto)),
            "yes" if meets_targets(tally) else "",
        )
    console.print(table)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


# ----------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------


class Clock:
    """Wall time of named steps, printed as they finish."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.console.print(f"{name}: {time.perf_counter() - started:.1f} s")


async def write_core(graph: Graph, labelled: LabelledSet) -> int:
    """Write the core people (batches already written are skipped); returns people in the graph."""
    await migrate(graph)
    done = await done_batches(graph, [b.key for b in labelled.batches])
    for batch in labelled.batches:
        if batch.key not in done:
            await write_batch(graph, batch)
    return await count_core(graph)


@dataclass(slots=True)
class Timings:
    resolve: list[float] = field(default_factory=list)  # end to end, seconds
    by_outcome: dict[str, list[float]] = field(default_factory=dict)
    blocking: list[float] = field(default_factory=list)
    scoring: list[float] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ranked:
    """One external record's candidates as the hub's blocking found them and its model scored them."""

    scored: tuple[ScoredCandidate, ...]
    truncated: bool  # blocking stopped at its limit

    def decide(self, thresholds: Thresholds, limit: int = MAX_CANDIDATES) -> Decision:
        """What the resolver would decide with these thresholds (the margin and truncation rules included)."""
        decision = decide(self.scored, thresholds, "sweep")
        return when_truncated(decision, limit) if self.truncated else decision


async def link_all(
    graph: Graph, labelled: LabelledSet, model: LinkageModel, thresholds: Thresholds, source: str
) -> tuple[list[Decision], Timings, list[Ranked]]:
    """Every external record through the real-time path, one after another (as a webhook would);
    then each record's blocking and scoring again, timed apart and kept for the threshold sweep."""
    resolver = Resolver(graph, model, thresholds, actor="bench")
    timings = Timings()
    decisions = []
    for case in labelled.external:
        started = time.perf_counter()
        decision = await resolver.resolve(ExternalRecord(source, case.external_id, case.fields))
        elapsed = time.perf_counter() - started
        timings.resolve.append(elapsed)
        timings.by_outcome.setdefault(decision.outcome.value, []).append(elapsed)
        timings.candidates.append(decision.considered)
        decisions.append(decision)
    # the two parts of a resolution, timed apart: the Cypher read, then the scoring
    ranked = []
    for case in labelled.external:
        parsed, _ = resolver.validate(ExternalRecord(source, case.external_id, case.fields))
        keys = blocking_keys(parsed, case.fields)

        async def read(tx: Tx, keys: BlockingKeys = keys) -> tuple[list[Candidate], bool]:
            return await find_candidates(tx, keys, "bench|none")

        started = time.perf_counter()
        candidates, truncated = await graph.read(read)
        timings.blocking.append(time.perf_counter() - started)
        started = time.perf_counter()
        scored = resolver.score(parsed, candidates)
        timings.scoring.append(time.perf_counter() - started)
        ranked.append(Ranked(tuple(sorted(scored, key=lambda c: c.score.match_weight, reverse=True)), truncated))
    return decisions, timings, ranked


async def link_bulk(
    graph: Graph, labelled: LabelledSet, model: LinkageModel, thresholds: Thresholds, source: str, directory: Path
) -> BulkReport:
    """The external records as a JSONL extract, linked by the bulk path (fresh source, fresh checkpoint)."""
    extract = directory / f"{source}.jsonl"
    lines = (orjson.dumps({"id": c.external_id, **c.fields}) + b"\n" for c in labelled.external)
    extract.write_bytes(b"".join(lines))
    resolver = Resolver(graph, model, thresholds, actor="bench-bulk")
    try:
        return await link_file(resolver, extract, source, checkpoint=directory / f"{source}.checkpoint.json")
    finally:
        extract.unlink(missing_ok=True)


def splink_batch(doc: dict[str, Any], labelled: LabelledSet, model: LinkageModel) -> dict[str, Any]:
    """Splink's own batch prediction over the same tables and model, and the hub's scores on its pairs."""
    core = labelled.core_records()
    external = labelled.external_records()
    core_ids = {uid for uid, _ in core}
    session = splink_session(doc["settings"], core, external, tf_tables=doc["tf_tables"])
    started = time.perf_counter()
    predictions = session.linker.inference.predict(warning_mode="never").as_record_list()
    elapsed = time.perf_counter() - started
    by_id = dict(core) | dict(external)
    pairs: dict[str, list[tuple[str, float]]] = {}
    worst = 0.0
    for row in predictions:
        left, right = row["unique_id_l"], row["unique_id_r"]
        core_id, ext_id = (left, right) if left in core_ids else (right, left)
        pairs.setdefault(ext_id, []).append((core_id, row["match_probability"]))
        mine = model.score(by_id[left], by_id[right]).match_weight
        worst = max(worst, abs(mine - row["match_weight"]))
    return {
        "seconds": elapsed,
        "pairs": pairs,
        "n_pairs": len(predictions),
        "max_weight_diff": worst,
        "session": session,
    }


def splink_one_record(session: Any, labelled: LabelledSet, n: int) -> list[float]:
    """Splink's one-record inference (`predict_between` against the registered core), timed per record."""
    times = []
    for case in labelled.external[:n]:
        record = parse_external(case.fields, today=TODAY)
        started = time.perf_counter()
        one = session.db.register(arrow_table([(case.external_id, record)]))
        session.linker.inference.predict_between(session.core, one, warning_mode="never").as_record_list()
        times.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(
    console: Console,
    labelled: LabelledSet,
    people_in_graph: int,
    doc: dict[str, Any],
    thresholds: Thresholds,
    hub: Tally,
    timings: Timings,
    splink: dict[str, Any],
    one_record: list[float],
    bulk: BulkReport | None = None,
) -> None:
    kinds = Counter(c.kind for c in labelled.external)
    corruptions = Counter(x for c in labelled.external for x in c.corruptions)
    clean = sum(1 for c in labelled.external if not c.corruptions)
    console.print(
        f"labelled set (seed {labelled.seed}): {len(labelled.core):,} core people ({people_in_graph:,} in the graph), "
        f"{len(labelled.external):,} external records: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))
    )
    console.print(f"  corruption: {clean:,} clean; " + ", ".join(f"{k} {v:,}" for k, v in corruptions.most_common()))
    console.print(
        f"model {doc['version']}: trained in {doc['training']['seconds']} s on {doc['training']['coreRecords']:,} "
        f"+ {doc['training']['sampleRecords']:,} records; prior {model_prior(doc):.3g} ({prior_weight(doc):.2f} bits)"
    )
    auto_p, review_p = thresholds.probabilities(prior_weight(doc))
    table = Table(
        title=f"auto link >= {thresholds.auto_link_bits:g} bits of evidence, "
        f"review >= {thresholds.review_bits:g} bits, margin {thresholds.margin:g} bits "
        f"(probabilities {auto_p:.4g} and {review_p:.4g} under this model's prior; Splink's pairs are read at those)"
    )
    for column in (
        "decider",
        "auto links",
        "precision",
        "recall",
        "F1",
        "auto + queued",
        "review share",
        "hard cases auto-linked wrongly",
    ):
        table.add_column(column, justify="right")
    n = len(labelled.external)
    pairwise = {
        "Splink batch: every pair >= auto": tally_pairs(labelled.external, splink["pairs"], auto_p, review_p),
        "Splink batch: best pair per record": tally_best_pair(labelled.external, splink["pairs"], auto_p, review_p),
    }
    for name, t in [("hub real time (thresholds + margin)", hub), *pairwise.items()]:
        table.add_row(
            name,
            f"{t.auto:,}",
            f"{t.precision():.4f}",
            f"{t.recall():.4f}",
            f"{t.f1():.4f}",
            f"{t.coverage():.4f}",
            f"{t.queued / n:.3f}",
            str(len(t.hard_wrong_auto)),
        )
    console.print(table)
    matched = [c for c in labelled.external if c.person_id is not None]
    found = sum(1 for c in matched if any(pid == c.person_id for pid, _ in splink["pairs"].get(c.external_id, [])))
    console.print(
        f"blocking (date of birth, postcode, full name) found the true person for {found / len(matched):.4f} "
        f"of the {len(matched):,} records that have one"
    )
    review_only = tally_pairs(labelled.external, splink["pairs"], review_p, review_p)
    console.print(
        f"at the review threshold alone ({thresholds.review_bits:g} bits) as an auto-link threshold: precision "
        f"{review_only.precision():.4f}, recall {review_only.recall():.4f}, F1 {review_only.f1():.4f}"
    )
    for line in hub.hard_wrong_auto[:10]:
        console.print(f"  [red]wrong automatic link[/red] {line}")
    console.print(
        f"real time, per record, end to end (validate, Cypher blocking, score, persist): "
        f"p50 {ms(statistics.median(timings.resolve))} ms, p99 {ms(percentile(timings.resolve, 0.99))} ms; "
        f"candidates per record p50 {statistics.median(timings.candidates):.0f}, max {max(timings.candidates)}"
    )
    console.print(
        "  by outcome: "
        + "; ".join(
            f"{outcome} ({len(t):,}) p50 {ms(statistics.median(t))} ms, p99 {ms(percentile(t, 0.99))} ms"
            for outcome, t in sorted(timings.by_outcome.items())
        )
    )
    console.print(
        f"  of which Cypher blocking p50 {ms(statistics.median(timings.blocking))} ms "
        f"(p99 {ms(percentile(timings.blocking, 0.99))} ms), "
        f"scoring p50 {ms(statistics.median(timings.scoring))} ms "
        f"(p99 {ms(percentile(timings.scoring, 0.99))} ms)"
    )
    if bulk is not None:
        sequential = len(timings.resolve) / sum(timings.resolve)
        c = bulk.counts
        console.print(
            f"bulk linking (hub identities link, 4 at once): {bulk.rows_this_run:,} records in {bulk.seconds:.1f} s, "
            f"{bulk.rate:,.0f} records/s ({bulk.rate / sequential:.1f}x the one-after-another real-time "
            f"{sequential:,.0f}/s); auto-linked {c.auto_linked:,}, queued {c.queued:,}, unmatched {c.unmatched:,}, "
            f"refused {c.refused:,}"
        )
    console.print(
        f"Splink batch predict on the same data: {splink['seconds']:.2f} s for {splink['n_pairs']:,} pairs "
        f"({ms(splink['seconds'] / n)} ms per external record); hub score vs Splink on every pair: "
        f"max |match weight difference| {splink['max_weight_diff']:.2e}"
    )
    if one_record:
        console.print(
            f"Splink one-record inference (predict_between against the core, {len(one_record)} records): "
            f"p50 {ms(statistics.median(one_record))} ms, p99 {ms(percentile(one_record, 0.99))} ms; "
            f"hub real time p50 is {statistics.median(one_record) / statistics.median(timings.resolve):.0f}x faster"
        )


def model_prior(doc: dict[str, Any]) -> float:
    return float(doc["settings"]["probability_two_random_records_match"])


def prior_weight(doc: dict[str, Any]) -> float:
    return prob_to_match_weight(model_prior(doc))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.linkage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="core people (default 20000)")
    parser.add_argument("--external", type=int, default=5_000, help="external records (default 5000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench-linkage"))
    parser.add_argument("--config", type=Path, default=Path("config/linkage.yaml"))
    parser.add_argument("--splink-one-record", type=int, default=20, help="records timed with Splink's predict_between")
    parser.add_argument("--sweep-auto", type=float, nargs="+", default=SWEEP_AUTO_BITS, help="auto-link bits to sweep")
    parser.add_argument("--sweep-review", type=float, nargs="+", default=SWEEP_REVIEW_BITS, help="review bits to sweep")
    parser.add_argument(
        "--sweep-only", type=Path, metavar="RANKED.jsonl", help="only the sweep, from a run's saved ranked candidates"
    )
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 132))
    clock = Clock(console)
    try:
        config = load_config(args.config)
        if args.sweep_only:
            cases, ranked, prior = load_ranked(args.sweep_only)
            report_sweep(console, cases, ranked, prior, config.thresholds, args.sweep_auto, args.sweep_review)
            return 0
        with clock.step("generate the labelled set"):
            labelled = generate(args.people, args.seed, external=args.external)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        settings = load_settings(data_dir=args.data_dir)
        with clock.step("train with Splink (DuckDB)"):
            trained = train_on(labelled, config.training)
            save_model(trained.document, args.data_dir / "models")
        doc, model = trained.document, trained.model
        with running_services(settings, cache=False) as live:
            graph = connect_graph(live)

            async def in_graph() -> tuple[int, list[Decision], Timings, list[Ranked], BulkReport]:
                try:
                    with clock.step("write the core people"):
                        people = await write_core(graph, labelled)
                    source = f"bench-{uuid.uuid4().hex[:8]}"  # a fresh source per run: nothing is already linked
                    with clock.step("link every external record in real time"):
                        decisions, timings, ranked = await link_all(graph, labelled, model, config.thresholds, source)
                    with clock.step("link them again as a bulk extract"):
                        bulk = await link_bulk(
                            graph, labelled, model, config.thresholds, source + "-bulk", args.data_dir
                        )
                    return people, decisions, timings, ranked, bulk
                finally:
                    await graph.close()

            people, decisions, timings, ranked, bulk = asyncio.run(in_graph())
        with clock.step("Splink batch predict (and the hub's score on every pair)"):
            splink = splink_batch(doc, labelled, model)
        with clock.step("Splink one-record inference"):
            one_record = splink_one_record(splink["session"], labelled, args.splink_one_record)
        hub = tally_decisions(labelled.external, decisions)
        report(console, labelled, people, doc, config.thresholds, hub, timings, splink, one_record, bulk)
        saved = args.data_dir / f"ranked-{args.people}-{args.seed}.jsonl"
        save_ranked(saved, labelled.external, ranked, model.prior_weight)
        again = [r.decide(config.thresholds).outcome for r in ranked]
        console.print(
            f"the sweep's decisions at the configured thresholds equal the real-time ones for "
            f"{sum(a == d.outcome for a, d in zip(again, decisions, strict=True)):,} of {len(decisions):,} records; "
            f"ranked candidates saved to {saved} (re-read with --sweep-only)"
        )
        report_sweep(
            console,
            labelled.external,
            ranked,
            model.prior_weight,
            config.thresholds,
            args.sweep_auto,
            args.sweep_review,
        )
    except (SettingsError, EmbeddedError, LinkageSetupError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: the servers were stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
