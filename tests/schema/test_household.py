"""Household edges and linkRelationship through GraphQL, with round trips counted at the driver."""

from __future__ import annotations

from typing import Any

from conftest import Gql, MakePerson
from starlette.applications import Starlette

from graph.driver import Graph

AUDIT_WRITE_TRIPS = 1  # the app's audit writer appends in one statement once it knows its chain's head

LINK = """
mutation($input: LinkRelationshipInput!) {
  linkRelationship(input: $input) {
    __typename
    ... on LinkRelationshipSuccess { kind from { id } to { id } }
    ... on UserError { code message }
    ... on InvalidInput { field }
  }
}"""


async def link(gql: Gql, kind: str, a: str, b: str, hours: int | None = None) -> dict[str, Any]:
    body = await gql(LINK, {"input": {"kind": kind, "fromId": a, "toId": b, "hoursPerWeek": hours}})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["linkRelationship"]
    return result


async def test_household_edges(gql: Gql, make_person: MakePerson) -> None:
    mum = await make_person(given="Mum")
    dad = await make_person(given="Dad")
    kid = await make_person(given="Kid")
    gran = await make_person(given="Gran")
    assert (await link(gql, "PARENT_OF", mum.id, kid.id))["__typename"] == "LinkRelationshipSuccess"
    assert (await link(gql, "PARENT_OF", dad.id, kid.id))["__typename"] == "LinkRelationshipSuccess"
    await link(gql, "PARTNER_OF", dad.id, mum.id)
    await link(gql, "PARTNER_OF", mum.id, dad.id)  # symmetric and idempotent: still one partner
    await link(gql, "CARES_FOR", mum.id, gran.id, 35)
    await link(gql, "CARES_FOR", mum.id, gran.id, 40)  # updates the hours, no second link

    body = await gql(
        """query($id: ID!) { person(id: $id) {
            givenName partner { givenName } children { givenName parents { givenName } }
            parents { id } caresFor { hoursPerWeek person { givenName } }
            address { postcode } addressHistory { from to } claims { id }
        } }""",
        {"id": mum.id},
    )
    person = body["data"]["person"]
    assert person["partner"] == {"givenName": "Dad"}
    assert [c["givenName"] for c in person["children"]] == ["Kid"]
    assert sorted(p["givenName"] for p in person["children"][0]["parents"]) == ["Dad", "Mum"]
    assert person["parents"] == []
    assert person["caresFor"] == [{"hoursPerWeek": 40, "person": {"givenName": "Gran"}}]
    assert person["address"] is None and person["addressHistory"] == [] and person["claims"] == []


async def test_link_errors_are_typed_and_change_nothing(gql: Gql, make_person: MakePerson) -> None:
    a = await make_person(given="Ann")
    b = await make_person(given="Bob")
    ghost = "00000000-0000-4000-8000-00000000beef"
    assert (await link(gql, "PARENT_OF", a.id, a.id))["field"] == "toId"
    assert (await link(gql, "PARENT_OF", a.id, ghost))["__typename"] == "NotFoundError"
    assert (await link(gql, "PARENT_OF", "junk", b.id))["field"] == "fromId"
    assert (await link(gql, "CARES_FOR", a.id, b.id))["field"] == "hoursPerWeek"
    assert (await link(gql, "CARES_FOR", a.id, b.id, 500))["field"] == "hoursPerWeek"
    assert (await link(gql, "PARTNER_OF", a.id, b.id, 5))["field"] == "hoursPerWeek"
    await link(gql, "PARENT_OF", a.id, b.id)
    assert (await link(gql, "PARENT_OF", b.id, a.id))["__typename"] == "InvalidInput"
    body = await gql(f'{{ person(id: "{b.id}") {{ children {{ id }} parents {{ id }} caresFor {{ hoursPerWeek }} }} }}')
    assert body["data"]["person"] == {"children": [], "parents": [{"id": a.id}], "caresFor": []}


async def test_fifty_people_with_children_and_their_parents_cost_constant_round_trips(
    gql: Gql, app: Starlette, make_person: MakePerson, family: str
) -> None:
    """people -> children -> parents is two statements however many people there are (the search, then
    the page's households with the children's below them: schema.people.lookahead), plus the audit write."""
    small = "Few" + family[4:]
    for i in range(50):
        parent = await make_person(
            given=f"Parent{chr(97 + i // 26)}{chr(97 + i % 26)}", family_name=family if i >= 5 else small
        )
        other = await make_person(given="Other", family_name="Elsewhere" + family[4:])
        for k in range(2):
            child = await make_person(given=f"Child{chr(97 + k)}", family_name="Kid" + family[4:])
            await link(gql, "PARENT_OF", parent.id, child.id)
            await link(gql, "PARENT_OF", other.id, child.id)

    graph: Graph = app.state.resources.graph
    query = """query($f: PersonFilterInput!) { people(filter: $f, first: 100) {
        nodes { id children { id parents { id givenName } } } } }"""

    async def trips(name: str, expected_people: int) -> int:
        before = graph.stats.round_trips
        body = await gql(query, {"f": {"familyName": name}})
        used = graph.stats.round_trips - before
        nodes = body["data"]["people"]["nodes"]
        assert len(nodes) == expected_people
        assert all(len(n["children"]) == 2 and len(n["children"][0]["parents"]) == 2 for n in nodes)
        return used

    await trips(small, 5)  # the app's audit writer has learnt its chain's head by now
    few, many = await trips(small, 5), await trips(family, 45)
    assert few == many == 2 + AUDIT_WRITE_TRIPS, f"{few} round trips for 5 people, {many} for 45"
