"""Look-ahead: a person and every household its selection reads in ONE statement, same answers, same policy."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from conftest import Gql, MakePerson
from graphql import parse
from starlette.applications import Starlette

from graph import household
from graph.audit import access_log
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.identity import link_identity
from graph.models import Person, RelationshipKind
from graph.views import HouseholdShape, caseworker_views
from schema.people.lookahead import shape_of

AUDIT_WRITE_TRIPS = 1  # one statement, once the app's audit writer knows its chain's head (see `counted`)

CASEWORKER = """query($id: ID!) { person(id: $id) {
  id nino givenName familyName dateOfBirth
  partner { id givenName familyName }
  children { id givenName dateOfBirth parents { id givenName } }
  claims { id type status amountPence startDate }
  address { line1 town postcode }
  addressHistory { from to address { postcode } }
} }"""


async def family_of_four(graph: Graph, make_person: MakePerson, family: str) -> dict[str, Person]:
    mum = await make_person(given="Mum", born=date(1985, 5, 17))
    dad = await make_person(given="Dad", born=date(1983, 1, 2))
    kids = [await make_person(given=g, born=date(2012 + i * 3, 3, 4)) for i, g in enumerate(("Older", "Younger"))]
    for parent in (mum, dad):
        for kid in kids:
            await household.link(graph, RelationshipKind.PARENT_OF, parent.id, kid.id)
    await household.link(graph, RelationshipKind.PARTNER_OF, mum.id, dad.id)
    home = str(uuid.uuid4())
    batch = Batch(key=f"test:lookahead:{family}")
    batch.addresses.append(
        {"id": home, "props": {"line1": "1 High Street", "line2": None, "town": "Leeds", "postcode": "LS1 1AA"}}
    )
    batch.residences += [{"person": p.id, "address": home, "from": date(2014, 6, 30), "to": None} for p in (mum, *kids)]
    batch.claims.append(
        {
            "person": mum.id,
            "id": f"{mum.id}:cb",
            "props": {
                "type": "CHILD_BENEFIT",
                "status": "ACTIVE",
                "startDate": date(2021, 2, 1),
                "amountPence": 10_200,
            },
        }
    )
    await write_batch(graph, batch)
    return {"mum": mum, "dad": dad, "older": kids[0], "younger": kids[1]}


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


async def counted(graph: Graph, gql: Gql, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any], int]:
    await gql(query, variables)  # the first audit write of a process also reads its chain's head
    before = graph.stats.round_trips
    body = await gql(query, variables)
    return body, graph.stats.round_trips - before


async def test_caseworker_query_is_one_statement_and_equals_the_floor(
    app: Starlette, gql: Gql, make_person: MakePerson, family: str
) -> None:
    graph: Graph = app.state.resources.graph
    h = await family_of_four(graph, make_person, family)
    body, trips = await counted(graph, gql, CASEWORKER, {"id": h["mum"].id})
    assert "errors" not in body, body
    [floor] = await caseworker_views(graph, [h["mum"].id])
    assert body["data"]["person"] == _json(floor)
    assert trips == 1 + AUDIT_WRITE_TRIPS  # level by level it was 3 reads: person, household, children's


async def test_by_nino_through_fragments_and_aliases(
    app: Starlette, gql: Gql, make_person: MakePerson, family: str
) -> None:
    graph: Graph = app.state.resources.graph
    h = await family_of_four(graph, make_person, family)
    query = """query($nino: String!, $id: ID!) {
      a: personByNino(nino: $nino) { ...Kids }
      b: personByNino(nino: $nino) { ... on Person { partner { givenName claims { id } } } }
      c: person(id: $id) { givenName }
    }
    fragment Kids on Person { children { ...Names } }
    fragment Names on Person { givenName parents { givenName } }"""
    body, trips = await counted(graph, gql, query, {"nino": h["mum"].nino.lower(), "id": h["dad"].id})
    assert "errors" not in body, body
    kids = body["data"]["a"]["children"]
    assert [k["givenName"] for k in kids] == ["Older", "Younger"]
    assert all(sorted(p["givenName"] for p in k["parents"]) == ["Dad", "Mum"] for k in kids)
    assert body["data"]["b"]["partner"] == {"givenName": "Dad", "claims": []}
    assert body["data"]["c"] == {"givenName": "Dad"}
    # Two shapes (a, b) -> two tree statements, and one plain lookup for c.
    assert trips == 3 + AUDIT_WRITE_TRIPS


async def test_unknown_person_is_null_with_no_error(gql: Gql) -> None:
    body = await gql(CASEWORKER, {"id": str(uuid.uuid4())})
    assert body == {"data": {"person": None}}


async def test_policy_still_decides_each_field_of_a_prefetched_tree(
    app: Starlette, gql: Gql, make_person: MakePerson, family: str, token: Any
) -> None:
    """The tree holds the children's claims and NINOs; a citizen still gets FORBIDDEN on them, and only
    what was resolved is audited."""
    graph: Graph = app.state.resources.graph
    h = await family_of_four(graph, make_person, family)
    subject = f"urn:fdc:gov.uk:2022:{uuid.uuid4()}"
    await link_identity(graph, h["mum"].id, "govuk-one-login", subject, method="test", linked_by="test")
    headers = {"authorization": f"Bearer {token(None, subject=subject, vot='Cl.Cm.P2')}"}
    query = "{ me { claims { id } children { givenName nino claims { id } } } }"
    await gql(query, headers=headers)  # the first audit write of a process also reads its chain's head
    before = graph.stats.round_trips
    body = await gql(query, headers=headers)
    me = body["data"]["me"]
    assert me["claims"] == [{"id": f"{h['mum'].id}:cb"}]
    assert [c["givenName"] for c in me["children"]] == ["Older", "Younger"]
    assert all(c["nino"] is None and c["claims"] is None for c in me["children"])
    forbidden = sorted(e["message"] for e in body["errors"])
    assert forbidden == ["Not allowed: reading Person.claims"] * 2 + ["Not allowed: reading Person.nino"] * 2
    # identity link + one tree + audit (level by level: identity link + person + two households + audit)
    assert graph.stats.round_trips - before == 2 + AUDIT_WRITE_TRIPS
    entries = await access_log(graph, [h["older"].id])
    fields = {f for e in entries[0] if e.actor == subject for f in e.fields}
    assert fields == {"givenName"}


def _shape(document: str) -> HouseholdShape | None:
    doc = parse(document)
    op = doc.definitions[0]
    fragments = {d.name.value: d for d in doc.definitions[1:]}  # type: ignore[attr-defined]
    root = op.selection_set.selections[0]  # type: ignore[attr-defined]
    return shape_of(root.selection_set, fragments)


def test_shape_follows_fields_fragments_and_cares_for() -> None:
    assert _shape("{ person(id: 1) { givenName nino } }") is None
    assert _shape("{ person(id: 1) { claims { id } } }") == HouseholdShape()
    assert _shape("{ person(id: 1) { children { givenName } } }") == HouseholdShape()
    assert _shape("{ person(id: 1) { children { parents { id } } } }") == HouseholdShape(children=HouseholdShape())
    assert _shape("{ person(id: 1) { ...F } } fragment F on Person { partner { address { town } } }") == (
        HouseholdShape(partners=HouseholdShape())
    )
    assert _shape("{ person(id: 1) { caresFor { person { claims { id } } } } }") == HouseholdShape(
        cares=HouseholdShape()
    )
    deep = "{ person(id: 1) { children { children { children { children { children { id } } } } } } }"
    shape = _shape(deep)
    assert shape is not None and shape.depth() == 4  # cut at MAX_TREE_DEPTH; the rest loads level by level
