"""Person queries and mutations through the real HTTP app (ASGI) and the real graph."""

from __future__ import annotations

import asyncio

import httpx
from conftest import Gql, MakePerson
from support import random_nino

PERSON_FIELDS = "id nino givenName familyName dateOfBirth status version createdAt"

CREATE = """
mutation($input: CreatePersonInput!) {
  createPerson(input: $input) {
    __typename
    ... on Person { id nino givenName familyName dateOfBirth version }
    ... on UserError { message code }
    ... on InvalidInput { field }
    ... on NinoTaken { nino }
  }
}"""

UPDATE = """
mutation($input: UpdatePersonInput!) {
  updatePerson(input: $input) {
    __typename
    ... on Person { id givenName version }
    ... on UserError { message code }
    ... on VersionConflictError { expectedVersion currentVersion }
    ... on InvalidInput { field }
  }
}"""


async def test_create_then_read_by_id_and_nino(gql: Gql, family: str) -> None:
    nino = random_nino()
    body = await gql(
        CREATE,
        {"input": {"givenName": "Ada", "familyName": family, "nino": nino.lower(), "dateOfBirth": "1988-03-04"}},
    )
    created = body["data"]["createPerson"]
    assert created["__typename"] == "Person"
    assert created["nino"] == nino and created["version"] == 1 and created["dateOfBirth"] == "1988-03-04"

    body = await gql(
        f"query($id: ID!, $nino: String!) {{ person(id: $id) {{ {PERSON_FIELDS} }} "
        f"personByNino(nino: $nino) {{ id }} }}",
        {"id": created["id"], "nino": nino[:2] + " " + nino[2:]},
    )
    assert "errors" not in body
    assert body["data"]["person"]["givenName"] == "Ada"
    assert body["data"]["person"]["status"] == "ACTIVE"
    assert body["data"]["personByNino"]["id"] == created["id"]


async def test_unknown_person_is_null_not_an_error(gql: Gql) -> None:
    body = await gql('{ person(id: "00000000-0000-4000-8000-00000000abcd") { id } }')
    assert body == {"data": {"person": None}}


async def test_bad_identifiers_get_bad_user_input(gql: Gql) -> None:
    body = await gql('{ person(id: "1 OR 1=1") { id } }')
    assert body["data"] == {"person": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "UUID" in error["message"]

    body = await gql('{ personByNino(nino: "TN123456A") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_create_rejects_bad_input_as_typed_errors(gql: Gql, family: str, make_person: MakePerson) -> None:
    body = await gql(CREATE, {"input": {"givenName": "Ada", "familyName": family, "nino": "ZZ123456A"}})
    assert body["data"]["createPerson"]["__typename"] == "InvalidInput"
    assert body["data"]["createPerson"]["field"] == "nino"

    body = await gql(
        CREATE,
        {"input": {"givenName": "Ada", "familyName": family, "nino": random_nino(), "dateOfBirth": "2999-01-01"}},
    )
    assert body["data"]["createPerson"]["field"] == "dateOfBirth"

    existing = await make_person()
    body = await gql(CREATE, {"input": {"givenName": "Copy", "familyName": family, "nino": existing.nino}})
    assert body["data"]["createPerson"] == {
        "__typename": "NinoTaken",
        "message": f"National Insurance number {existing.nino} already belongs to another person",
        "code": "NINO_TAKEN",
        "nino": existing.nino,
    }


async def test_wrong_types_and_malformed_documents_are_refused(
    gql: Gql, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    body = await gql(CREATE, {"input": {"givenName": 5, "familyName": "X", "nino": "AB123456C", "dateOfBirth": "no"}})
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert any("Date" in e["message"] for e in body["errors"])

    response = await client.post("/graphql", json={"query": "{ person(id: "}, headers=caseworker)
    assert response.status_code in (200, 400)
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"

    response = await client.post(
        "/graphql", content=b"{not json", headers={**caseworker, "content-type": "application/json"}
    )
    assert response.status_code == 400

    body = await gql("{ person(id: 1) { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_depth_and_alias_limits(gql: Gql) -> None:
    deep = '{ person(id: "x") { ' + "children { " * 15 + "id" + " }" * 15 + " } }"
    body = await gql(deep)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    many = "{ " + " ".join(f'a{i}: person(id: "x") {{ id }}' for i in range(40)) + " }"
    body = await gql(many)
    assert "aliases" in body["errors"][0]["message"]


async def test_update_with_version(gql: Gql, make_person: MakePerson) -> None:
    p = await make_person(given="Old")
    body = await gql(UPDATE, {"input": {"id": p.id, "version": 1, "givenName": "New"}})
    assert body["data"]["updatePerson"] == {"__typename": "Person", "id": p.id, "givenName": "New", "version": 2}

    body = await gql(UPDATE, {"input": {"id": p.id, "version": 1, "givenName": "Stale"}})
    result = body["data"]["updatePerson"]
    assert result["__typename"] == "VersionConflictError"
    assert (result["expectedVersion"], result["currentVersion"]) == (1, 2)

    body = await gql(UPDATE, {"input": {"id": "nope", "version": 1}})
    assert body["data"]["updatePerson"]["__typename"] == "InvalidInput"
    body = await gql(UPDATE, {"input": {"id": "00000000-0000-4000-8000-00000000dead", "version": 1}})
    assert body["data"]["updatePerson"]["__typename"] == "NotFoundError"


async def test_two_concurrent_updates_one_wins_one_conflicts(gql: Gql, make_person: MakePerson) -> None:
    p = await make_person(given="Start")
    a, b = await asyncio.gather(
        gql(UPDATE, {"input": {"id": p.id, "version": 1, "givenName": "Alpha"}}),
        gql(UPDATE, {"input": {"id": p.id, "version": 1, "givenName": "Beta"}}),
    )
    kinds = sorted([a["data"]["updatePerson"]["__typename"], b["data"]["updatePerson"]["__typename"]])
    assert kinds == ["Person", "VersionConflictError"]
    winner = next(r["data"]["updatePerson"] for r in (a, b) if r["data"]["updatePerson"]["__typename"] == "Person")
    body = await gql(f'{{ person(id: "{p.id}") {{ givenName version }} }}')
    assert body["data"]["person"] == {"givenName": winner["givenName"], "version": 2}


async def test_people_connection_pages_with_opaque_cursors(gql: Gql, make_person: MakePerson, family: str) -> None:
    for given in ["Dee", "Ann", "Cy", "Bo", "Eli"]:
        await make_person(given=given)
    query = """query($f: PersonFilterInput!, $after: String) {
      people(filter: $f, first: 2, after: $after) {
        edges { cursor node { givenName } } pageInfo { hasNextPage endCursor } nodes { id }
      }
    }"""
    names: list[str] = []
    after = None
    pages = 0
    while True:
        body = await gql(query, {"f": {"familyName": family.upper()}, "after": after})
        conn = body["data"]["people"]
        names += [e["node"]["givenName"] for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert names == ["Ann", "Bo", "Cy", "Dee", "Eli"]
    assert pages == 3

    body = await gql(query, {"f": {"familyName": family}, "after": "garbage!!"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql(query, {"f": {"givenName": "Ann"}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter"}
    body = await gql('{ people(filter: {familyName: "X"}, first: 1000) { nodes { id } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
