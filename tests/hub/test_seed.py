"""Synthetic citizens: deterministic, valid, realistic, and idempotent when written."""

from __future__ import annotations

from datetime import timedelta

from graph import household, person
from graph.driver import Graph
from graph.nino import is_valid_nino
from hub.seed import TODAY, HouseholdGenerator, seed


def test_same_seed_same_people_other_seed_other_people() -> None:
    a = [b for b, _ in HouseholdGenerator(3).batches(500, per_batch=50)]
    b = [b for b, _ in HouseholdGenerator(3).batches(500, per_batch=50)]
    c = [b for b, _ in HouseholdGenerator(4).batches(500, per_batch=50)]
    assert a == b
    assert {p["id"] for x in a for p in x.people}.isdisjoint({p["id"] for x in c for p in x.people})


def test_people_are_valid_unique_and_households_plausible() -> None:
    batches = [b for b, _ in HouseholdGenerator(5).batches(5000)]
    people = [p for b in batches for p in b.people]
    assert len(people) >= 5000
    ninos = [p["props"]["nino"] for p in people]
    assert len(set(ninos)) == len(ninos) and all(is_valid_nino(n) for n in ninos)
    assert len({p["id"] for p in people}) == len(people)
    born = {p["id"]: p["props"]["dateOfBirth"] for p in people}
    links = [r for b in batches for r in b.parent_of]
    assert links, "some households have children"
    for r in links:
        assert born[r["a"]] + timedelta(days=18 * 365) <= born[r["b"]] <= TODAY
    assert any(b.cares_for for b in batches) and any(b.claims for b in batches)
    current = [r for b in batches for r in b.residences if r["to"] is None]
    assert {r["person"] for r in current} == set(born), "everyone has exactly one current address"
    assert len(current) == len(born)


async def test_seeding_twice_writes_once(graph: Graph) -> None:
    written, skipped = await seed(graph, 120, seed=61)
    assert (written >= 120, skipped) == (True, 0)
    again_written, again_skipped = await seed(graph, 120, seed=61)
    assert (again_written, again_skipped) == (0, written)

    batch = next(HouseholdGenerator(61).batches(120))[0]
    ids = [p["id"] for p in batch.people]
    found = await person.get_people(graph, ids)
    assert all(found), "every generated person is in the graph"
    households = [h for h in await household.households_of(graph, ids) if h is not None]
    assert len(households) == len(ids)
    assert sum(len(h.children) for h in households) == len(batch.parent_of)
    assert all(sum(r.to_date is None for r in h.residences) == 1 for h in households)


async def test_demo_cases_are_seeded_once_with_positions(graph: Graph) -> None:
    from datetime import date

    from graph import maintenance
    from graph.money import Role
    from hub.seed import seed_demo_cases

    await seed(graph, 300, seed=63)
    created = await seed_demo_cases(graph, 300, seed=63, cases=4, today=date(2026, 11, 1))
    assert created == 4
    assert await seed_demo_cases(graph, 300, seed=63, cases=4, today=date(2026, 11, 1)) == 0
    assert await seed_demo_cases(graph, 3, seed=63, cases=4, today=date(2026, 11, 1)) == 0  # only seeded homes
    batch = next(HouseholdGenerator(63).batches(300))[0]
    parents = [r["a"] for r in batch.partner_of]
    cases = [pc for found in await maintenance.cases_for_person(graph, parents) for pc in found]
    assert len({pc.case.id for pc in cases}) == 4
    positions = [await maintenance.position_for(graph, pc.case.id, date(2026, 11, 1), Role.PAYING) for pc in cases]
    assert any(p.arrears_pence > 0 for p in positions) and any(p.arrears_pence == 0 for p in positions)
