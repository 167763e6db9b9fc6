"""Person repository against the real graph server."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from conftest import MakePerson
from support import random_nino

from graph import person as repo
from graph.driver import Graph
from graph.errors import DuplicateNino, InvalidValue, NotFound, VersionConflict
from graph.migrations import MIGRATIONS, migrate, schema_names
from graph.models import NewPerson, PersonChanges, PersonFilter


async def test_migrations_are_idempotent(graph: Graph) -> None:
    await migrate(graph)
    await migrate(graph)
    names = await schema_names(graph)
    for wanted in ("person_id", "person_nino", "person_family_name_key", "person_date_of_birth", "address_postcode"):
        assert wanted in names
    assert len(MIGRATIONS) >= 8


async def test_create_normalises_and_reads_back(graph: Graph, family: str) -> None:
    nino = random_nino()
    spaced = f"{nino[:2].lower()} {nino[2:4]} {nino[4:6]} {nino[6:8]} {nino[8].lower()}"
    created = await repo.create_person(
        graph, NewPerson(given_name="  Siân ", family_name=family, nino=spaced, date_of_birth=date(1990, 2, 28))
    )
    assert created.nino == nino
    assert created.given_name == "Siân"
    assert created.version == 1
    by_id, missing = await repo.get_people(graph, [created.id, "00000000-0000-4000-8000-000000000000"])
    assert by_id == created
    assert missing is None
    [by_nino] = await repo.get_people_by_nino(graph, [nino])
    assert by_nino == created


async def test_duplicate_nino_is_refused_and_first_record_kept(graph: Graph, make_person: MakePerson) -> None:
    first = await make_person(given="First")
    with pytest.raises(DuplicateNino):
        await make_person(given="Second", nino=first.nino)
    [kept] = await repo.get_people_by_nino(graph, [first.nino])
    assert kept is not None and kept.given_name == "First"


@pytest.mark.parametrize(
    ("field", "new"),
    [
        ("nino", NewPerson(given_name="A", family_name="B", nino="TN123456A")),
        ("nino", NewPerson(given_name="A", family_name="B", nino="not a nino")),
        ("givenName", NewPerson(given_name="   ", family_name="B", nino="AB123456C")),
        ("familyName", NewPerson(given_name="A", family_name="Robert'); DROP", nino="AB123456C")),
        ("dateOfBirth", NewPerson(given_name="A", family_name="B", nino="AB123456C", date_of_birth=date(2999, 1, 1))),
    ],
)
async def test_invalid_people_are_rejected_before_the_graph(graph: Graph, field: str, new: NewPerson) -> None:
    before = graph.stats.round_trips
    with pytest.raises(InvalidValue) as info:
        await repo.create_person(graph, new)
    assert info.value.field == field
    assert graph.stats.round_trips == before


async def test_update_bumps_version_and_checks_it(graph: Graph, make_person: MakePerson) -> None:
    p = await make_person()
    updated = await repo.update_person(graph, p.id, 1, PersonChanges(given_name="Robin"))
    assert (updated.given_name, updated.version) == ("Robin", 2)
    with pytest.raises(VersionConflict) as info:
        await repo.update_person(graph, p.id, 1, PersonChanges(given_name="Stale"))
    assert (info.value.expected, info.value.current) == (1, 2)
    [stored] = await repo.get_people(graph, [p.id])
    assert stored is not None and (stored.given_name, stored.version) == ("Robin", 2)


async def test_update_unknown_person_is_not_found(graph: Graph) -> None:
    with pytest.raises(NotFound):
        await repo.update_person(graph, "00000000-0000-4000-8000-000000000001", 1, PersonChanges(given_name="X"))


async def test_update_to_a_taken_nino_changes_nothing(graph: Graph, make_person: MakePerson) -> None:
    a = await make_person(given="Ann")
    b = await make_person(given="Bob")
    with pytest.raises(DuplicateNino):
        await repo.update_person(graph, b.id, 1, PersonChanges(nino=a.nino, given_name="Changed"))
    [stored] = await repo.get_people(graph, [b.id])
    assert stored == b


async def test_concurrent_updates_with_one_version_have_exactly_one_winner(
    graph: Graph, make_person: MakePerson
) -> None:
    """Many writers holding the same version: one wins, every other gets a conflict, nothing is lost."""
    for _ in range(5):
        p = await make_person()
        names = [f"Writer{chr(ord('a') + i)}" for i in range(8)]
        results = await asyncio.gather(
            *(repo.update_person(graph, p.id, 1, PersonChanges(given_name=n)) for n in names),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        conflicts = [r for r in results if isinstance(r, VersionConflict)]
        assert len(winners) == 1, results
        assert len(conflicts) == len(names) - 1, results
        [stored] = await repo.get_people(graph, [p.id])
        assert stored is not None
        assert stored.version == 2
        assert stored.given_name == winners[0].given_name


async def test_search_by_family_prefix_pages_in_order_without_gaps(graph: Graph, make_person: MakePerson) -> None:
    givens = ["Zoe", "amy", "Émile", "Bea", "Cat", "Dan", "Eve"]
    made = [await make_person(given=g) for g in givens]
    family = made[0].family_name
    seen: list[str] = []
    after = None
    while True:
        page = await repo.search_people(graph, PersonFilter(family_name=family.lower()[:-2]), 3, after)
        seen += [p.given_name for p in page.items]
        if not page.has_next:
            break
        after = page.cursors[-1]
    assert seen == ["amy", "Bea", "Cat", "Dan", "Émile", "Eve", "Zoe"]


async def test_search_combines_filters(graph: Graph, make_person: MakePerson) -> None:
    a = await make_person(given="Ann", born=date(1970, 1, 1))
    await make_person(given="Ann", born=date(1971, 1, 1))
    page = await repo.search_people(
        graph, PersonFilter(family_name=a.family_name, date_of_birth=date(1970, 1, 1)), 10, None
    )
    assert [p.id for p in page.items] == [a.id]
    page = await repo.search_people(graph, PersonFilter(nino=a.nino.lower()), 10, None)
    assert [p.id for p in page.items] == [a.id]


async def test_search_needs_an_indexed_anchor(graph: Graph) -> None:
    with pytest.raises(InvalidValue) as info:
        await repo.search_people(graph, PersonFilter(given_name="Ann"), 10, None)
    assert info.value.field == "filter"
    with pytest.raises(InvalidValue):
        await repo.search_people(graph, PersonFilter(family_name="Smith"), 0, None)
