"""Synthetic but realistic UK citizens and households for demos, tests and benchmarks.

Deterministic for a given seed: household `h` of seed `s` always has the same people, ids, NINOs,
addresses and claims, whatever else was generated before it. Names and places come from Faker's
en_GB provider (drawn once into pools, then sampled: Faker per call would dominate a large seed).
Writes go through `graph.bulk`, which makes a re-run skip finished batches.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from faker import Faker
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graph.bulk import Batch, done_batches, write_batch
from graph.driver import Graph
from graph.models import full_name_key, name_key
from graph.nino import PREFIXES

_NAMESPACE = uuid.UUID("6f1c2a64-9a55-4b8e-9a37-1c2d3e4f5a6b")
_SLOTS = 8  # person slots per household number (NINO and id space)
_NINO_SPACE = len(PREFIXES) * 1_000_000
_NINO_STRIDE = 7_919_993  # coprime with the NINO space, so distinct slots get distinct NINOs
CLAIM_TYPES = ("UNIVERSAL_CREDIT", "CHILD_BENEFIT", "PERSONAL_INDEPENDENCE_PAYMENT", "CARERS_ALLOWANCE")
HOUSEHOLDS_PER_BATCH = 1000
TODAY = date(2026, 11, 1)  # fixed, so a seed's ages do not drift with the calendar


@dataclass(frozen=True, slots=True)
class Pools:
    female: list[str]
    male: list[str]
    family: list[str]
    streets: list[str]
    towns: list[str]
    postcodes: list[str]

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("en_GB")
        fake.seed_instance(seed)
        return cls(
            female=sorted({fake.first_name_female() for _ in range(3000)}),
            male=sorted({fake.first_name_male() for _ in range(3000)}),
            family=sorted({fake.last_name() for _ in range(5000)}),
            streets=sorted({fake.street_name() for _ in range(3000)}),
            towns=sorted({fake.city() for _ in range(800)}),
            postcodes=sorted({fake.postcode() for _ in range(30000)}),
        )


def nino_for(slot: int) -> str:
    n = (slot * _NINO_STRIDE) % _NINO_SPACE
    return f"{PREFIXES[n // 1_000_000]}{n % 1_000_000:06d}{'ABCD'[slot % 4]}"


def person_id(seed: int, slot: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"person:{seed}:{slot}"))


class HouseholdGenerator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.pools = Pools.build(seed)
        self.created = datetime(2026, 1, 1, tzinfo=UTC)

    def household(self, h: int, batch: Batch) -> int:
        """Append household `h` to `batch`; return how many people it has."""
        rng = random.Random(self.seed * 1_000_003 + h)
        p = self.pools
        family = rng.choice(p.family)
        slot0 = (self.seed % 100) * 10_000_000 + h * _SLOTS
        members: list[tuple[str, date]] = []

        def add(given: str, born: date, k: int) -> str:
            pid = person_id(self.seed, slot0 + k)
            props = {
                "nino": nino_for(slot0 + k),
                "givenName": given,
                "familyName": family,
                "givenNameKey": name_key(given),
                "familyNameKey": name_key(family),
                "fullNameKey": full_name_key(name_key(given), name_key(family)),
                "dateOfBirth": born,
                "status": "ACTIVE",
                "createdAt": self.created,
                "updatedAt": self.created,
                "version": 1,
            }
            batch.people.append({"id": pid, "props": props})
            members.append((pid, born))
            return pid

        def birth(min_age: int, max_age: int) -> date:
            return TODAY - timedelta(days=rng.randint(min_age * 365, max_age * 365 + 364))

        female_first = rng.random() < 0.5
        a = add(rng.choice(p.female if female_first else p.male), birth(19, 80), 0)
        adults = [a]
        if rng.random() < 0.6:
            b = add(rng.choice(p.male if female_first else p.female), birth(19, 80), 1)
            adults.append(b)
            batch.partner_of.append({"a": min(a, b), "b": max(a, b)})
            if rng.random() < 0.05:
                batch.cares_for.append({"a": a, "b": b, "hours": rng.choice((20, 35, 50))})
        youngest_adult = max(born for _, born in members)
        # Children only where the younger adult is 20-55: their children are then 0-17 and born
        # after the parent turned 18.
        parent_age_ok = TODAY - timedelta(days=56 * 365) < youngest_adult < TODAY - timedelta(days=20 * 365)
        children = rng.choice((0, 0, 1, 1, 2, 2, 3)) if parent_age_ok else 0
        for c in range(children):
            min_born = max(youngest_adult + timedelta(days=18 * 365), TODAY - timedelta(days=17 * 365))
            if min_born >= TODAY:
                break
            born = min_born + timedelta(days=rng.randint(0, (TODAY - min_born).days))
            kid = add(rng.choice(p.female if rng.random() < 0.5 else p.male), born, 2 + c)
            for parent in adults:
                batch.parent_of.append({"a": parent, "b": kid})

        # Current address for everyone; adults may have lived elsewhere before.
        moves = rng.choice((0, 0, 1, 2))
        current_from = TODAY - timedelta(days=rng.randint(30, 3650))
        addresses = [self._address(rng, f"{h}:0")]
        for m in range(moves):
            addresses.append(self._address(rng, f"{h}:{m + 1}"))
        batch.addresses.extend(addresses)
        for pid, born in members:
            start = max(current_from, born)
            batch.residences.append({"person": pid, "address": addresses[0]["id"], "from": start, "to": None})
            if pid in adults:
                until = current_from
                for prev in addresses[1:]:
                    began = until - timedelta(days=rng.randint(365, 2000))
                    batch.residences.append({"person": pid, "address": prev["id"], "from": began, "to": until})
                    until = began

        for k, pid in enumerate(adults):
            types = set(rng.sample(CLAIM_TYPES[:1] + CLAIM_TYPES[2:], rng.choice((0, 0, 1, 1, 2))))
            if children and k == 0:
                types.add("CHILD_BENEFIT")
            for t in sorted(types):
                batch.claims.append(
                    {
                        "person": pid,
                        "id": str(uuid.uuid5(_NAMESPACE, f"claim:{pid}:{t}")),
                        "props": {
                            "type": t,
                            "status": rng.choice(("ACTIVE", "ACTIVE", "ACTIVE", "CLOSED", "PENDING")),
                            "startDate": TODAY - timedelta(days=rng.randint(30, 2500)),
                            "amountPence": rng.randrange(2_000, 60_000, 5),
                        },
                    }
                )
        return len(members)

    def _address(self, rng: random.Random, key: str) -> dict[str, object]:
        p = self.pools
        return {
            "id": str(uuid.uuid5(_NAMESPACE, f"address:{self.seed}:{key}")),
            "props": {
                "line1": f"{rng.randint(1, 250)} {rng.choice(p.streets)}",
                "line2": None,
                "town": rng.choice(p.towns),
                "postcode": rng.choice(p.postcodes),
            },
        }

    def batches(self, people: int, per_batch: int = HOUSEHOLDS_PER_BATCH) -> Iterator[tuple[Batch, int]]:
        """Yield (batch, people in it) until at least `people` people were generated."""
        total, h = 0, 0
        while total < people:
            start = h
            batch = Batch(key="")
            count = 0
            while h - start < per_batch and total + count < people:
                count += self.household(h, batch)
                h += 1
            batch.key = f"seed:{self.seed}:households:{start}-{h}"
            total += count
            yield batch, count


async def seed_with_progress(graph: Graph, people: int, seed_value: int, console: Console) -> tuple[int, int, float]:
    """`seed` behind a progress bar with the rate; returns (written, already present, seconds)."""
    columns = (
        TextColumn("seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("seed", total=people, rate="")

        def advance(n: int) -> None:
            # Whole households: the last one may take the count a little past the target.
            done = bar.tasks[0].completed + n
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=max(people, done), rate=f"{rate:,.0f} people/s")

        written, skipped = await seed(graph, people, seed_value, progress=advance)
    return written, skipped, time.perf_counter() - started


async def seed(
    graph: Graph, people: int, seed: int = 42, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Seed at least `people` people; returns (people written, people already present)."""
    generator = HouseholdGenerator(seed)
    written = skipped = 0
    for batch, count in generator.batches(people):
        if await done_batches(graph, [batch.key]):
            skipped += count
        else:
            await write_batch(graph, batch)
            written += count
        if progress:
            progress(count)
    return written, skipped


async def seed_demo_cases(graph: Graph, people: int, seed: int = 42, cases: int = 12, today: date | None = None) -> int:
    """Child-maintenance cases for demo households (two parents with children), with payment histories.

    `people` and `seed` are those the demo was seeded with. Idempotent: a household whose paying parent
    already has a case is left alone. Most instalments
    are paid on the due date; every third case misses its two most recent ones, every fifth pays
    part of one, so the demo shows arrears as well as a clean record. Returns the cases created.
    """
    from graph import maintenance
    from graph.money import Frequency, Scheme, instalments

    today = today or date.today()
    generator = HouseholdGenerator(seed)
    created = 0
    found = 0
    # Only the households `seed(graph, people, seed)` wrote: one household per batch here.
    for h, (batch, _) in enumerate(generator.batches(people, per_batch=1)):
        if found >= cases:
            break
        if not batch.partner_of or not batch.parent_of:
            continue
        found += 1
        paying, receiving = batch.partner_of[0]["a"], batch.partner_of[0]["b"]
        children = sorted({r["b"] for r in batch.parent_of})
        [existing] = await maintenance.cases_for_person(graph, [paying])
        if existing:
            continue
        rng = random.Random(seed * 7919 + h)
        scheme = Scheme.COLLECT_AND_PAY if found % 2 else Scheme.DIRECT_PAY
        case = await maintenance.create_case(graph, scheme, paying, receiving, children)
        frequency = Frequency.WEEKLY if found % 3 else Frequency.MONTHLY
        schedule = await maintenance.add_schedule(
            graph, case.id, rng.randrange(2_500, 9_000, 5), frequency, today - timedelta(days=120)
        )
        due = instalments([schedule], scheme, today - timedelta(days=1))
        missed = {i.due_date for i in due[-2:]} if found % 3 == 0 else set()
        for i, instalment in enumerate(due):
            if instalment.due_date in missed:
                continue
            amount = instalment.total_pence // 2 if found % 5 == 0 and i == len(due) - 3 else instalment.total_pence
            paid_at = datetime.combine(instalment.due_date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
            await maintenance.record_payment(
                graph, case.id, amount, paid_at, f"demo:{case.id}:{instalment.due_date}", instalment.due_date
            )
        created += 1
    return created
