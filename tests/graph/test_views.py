"""The caseworker view: one statement returns a whole household, the same data the GraphQL query gives."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from conftest import Gql, MakePerson

from graph import household
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.models import Person, RelationshipKind
from graph.views import caseworker_views, count_people, sample_parent_ids

UNKNOWN = "00000000-0000-4000-8000-00000000f00d"

CASEWORKER_QUERY = """query($id: ID!) { person(id: $id) {
  id nino givenName familyName dateOfBirth
  partner { id givenName familyName }
  children { id givenName dateOfBirth parents { id givenName } }
  claims { id type status amountPence startDate }
  address { line1 town postcode }
  addressHistory { from to address { postcode } }
} }"""


def _id() -> str:
    return str(uuid.uuid4())


async def build_household(graph: Graph, make_person: MakePerson, family: str) -> dict[str, Person]:
    """Mum and Dad (partners) with two children; two homes for Mum, one for the rest; two claims for Mum."""
    mum = await make_person(given="Mum", born=date(1985, 5, 17))
    dad = await make_person(given="Dad", born=date(1983, 1, 2))
    older = await make_person(given="Older", born=date(2012, 3, 4))
    younger = await make_person(given="Younger", born=date(2016, 9, 10))
    for parent in (mum, dad):
        for child in (younger, older):
            await household.link(graph, RelationshipKind.PARENT_OF, parent.id, child.id)
    await household.link(graph, RelationshipKind.PARTNER_OF, mum.id, dad.id)

    home, flat = _id(), _id()
    batch = Batch(key=f"test:views:{family}")
    batch.addresses += [
        {"id": home, "props": {"line1": "1 High Street", "line2": None, "town": "Leeds", "postcode": "LS1 1AA"}},
        {"id": flat, "props": {"line1": "Flat 2", "line2": None, "town": "York", "postcode": "YO1 7HH"}},
    ]
    batch.residences += [
        {"person": mum.id, "address": flat, "from": date(2008, 1, 1), "to": date(2014, 6, 30)},
        {"person": mum.id, "address": home, "from": date(2014, 6, 30), "to": None},
        *({"person": p.id, "address": home, "from": date(2014, 6, 30), "to": None} for p in (dad, older, younger)),
    ]
    batch.claims += [
        {
            "person": mum.id,
            "id": f"{mum.id}:uc",
            "props": {
                "type": "UNIVERSAL_CREDIT",
                "status": "CLOSED",
                "startDate": date(2019, 4, 1),
                "amountPence": 31_550,
            },
        },
        {
            "person": mum.id,
            "id": f"{mum.id}:cb",
            "props": {
                "type": "CHILD_BENEFIT",
                "status": "ACTIVE",
                "startDate": date(2021, 2, 1),
                "amountPence": 10_200,
            },
        },
    ]
    await write_batch(graph, batch)
    return {"mum": mum, "dad": dad, "older": older, "younger": younger}


def _json(value: Any) -> Any:
    """The view with dates as the ISO strings GraphQL sends."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


async def test_caseworker_view_is_the_household_in_one_round_trip(
    graph: Graph, make_person: MakePerson, family: str
) -> None:
    h = await build_household(graph, make_person, family)
    mum, dad, older, younger = h["mum"], h["dad"], h["older"], h["younger"]
    parents = [{"id": dad.id, "givenName": "Dad"}, {"id": mum.id, "givenName": "Mum"}]  # by date of birth

    before = graph.stats.round_trips
    views = await caseworker_views(graph, [UNKNOWN, mum.id, younger.id])
    assert graph.stats.round_trips - before == 1

    missing, view, child_view = views
    assert missing is None
    assert view == {
        "id": mum.id,
        "nino": mum.nino,
        "givenName": "Mum",
        "familyName": family,
        "dateOfBirth": date(1985, 5, 17),
        "partner": {"id": dad.id, "givenName": "Dad", "familyName": family},
        "children": [
            {"id": older.id, "givenName": "Older", "dateOfBirth": date(2012, 3, 4), "parents": parents},
            {"id": younger.id, "givenName": "Younger", "dateOfBirth": date(2016, 9, 10), "parents": parents},
        ],
        "claims": [
            {
                "id": f"{mum.id}:cb",
                "type": "CHILD_BENEFIT",
                "status": "ACTIVE",
                "amountPence": 10_200,
                "startDate": date(2021, 2, 1),
            },
            {
                "id": f"{mum.id}:uc",
                "type": "UNIVERSAL_CREDIT",
                "status": "CLOSED",
                "amountPence": 31_550,
                "startDate": date(2019, 4, 1),
            },
        ],
        "address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"},
        "addressHistory": [
            {"from": date(2014, 6, 30), "to": None, "address": {"postcode": "LS1 1AA"}},
            {"from": date(2008, 1, 1), "to": date(2014, 6, 30), "address": {"postcode": "YO1 7HH"}},
        ],
    }
    assert child_view is not None
    assert (child_view["givenName"], child_view["partner"], child_view["children"], child_view["claims"]) == (
        "Younger",
        None,
        [],
        [],
    )
    assert child_view["address"] == view["address"]


async def test_caseworker_view_matches_the_graphql_query(
    graph: Graph, gql: Gql, make_person: MakePerson, family: str
) -> None:
    h = await build_household(graph, make_person, family)
    for person in h.values():
        body = await gql(CASEWORKER_QUERY, {"id": person.id})
        assert "errors" not in body, body
        [view] = await caseworker_views(graph, [person.id])
        assert _json(view) == body["data"]["person"]


async def test_unknown_and_empty_ids(graph: Graph) -> None:
    before = graph.stats.round_trips
    assert await caseworker_views(graph, []) == []
    assert graph.stats.round_trips == before
    assert await caseworker_views(graph, [UNKNOWN, UNKNOWN]) == [None, None]
    assert graph.stats.round_trips - before == 1


async def test_sample_parent_ids_finds_parents_with_claims(graph: Graph, make_person: MakePerson, family: str) -> None:
    await build_household(graph, make_person, family)
    ids = await sample_parent_ids(graph, 3)
    assert 1 <= len(ids) <= 3
    for view in await caseworker_views(graph, ids):
        assert view is not None and view["children"] and view["claims"]
    assert await count_people(graph) >= 4
    with pytest.raises(ValueError):
        await sample_parent_ids(graph, 0)
