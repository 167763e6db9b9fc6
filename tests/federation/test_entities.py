"""`_entities`: batched, robust to bad representations, and under the same field policy as every other path.

A gateway reaches the hub's people through `_entities`; the tests send what a gateway sends (representations
as a variable, `... on Person`), in-process through the real HTTP app, policy, audit and graph.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import Gql, MintToken
from starlette.applications import Starlette
from support import random_nino, unique_family

from graph import household
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.models import NewPerson, Person, PersonStatus, RelationshipKind, name_key
from graph.person import create_person
from hub.connectors import schema_specs
from hub.settings import Settings
from schema import build_schema

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Person { %s } } }"""


def by_id(person: Person) -> dict[str, str]:
    return {"__typename": "Person", "id": person.id}


def by_nino(person: Person) -> dict[str, str]:
    # A gateway passes on whatever the other subgraph holds: spacing and case vary.
    return {"__typename": "Person", "nino": f"{person.nino[:2].lower()} {person.nino[2:8]} {person.nino[8]}"}


def partner(token: MintToken) -> dict[str, str]:
    minted = token(["partner"], subject="hmrc-1", department="HMRC", purpose="earnings-verification")
    return {"authorization": f"Bearer {minted}"}


@pytest.fixture(scope="module")
async def household_ids(graph: Graph) -> dict[str, Person]:
    """A parent with a claim and an address, and their child."""
    family = unique_family()
    made = {}
    for role, given, born in (("parent", "Pat", date(1980, 4, 4)), ("child", "Cal", date(2015, 6, 1))):
        made[role] = await create_person(
            graph, NewPerson(given_name=given, family_name=family, nino=random_nino(), date_of_birth=born)
        )
    await household.link(graph, RelationshipKind.PARENT_OF, made["parent"].id, made["child"].id)
    address = str(uuid.uuid4())
    await write_batch(
        graph,
        Batch(
            key=f"test:{address}",
            addresses=[{"id": address, "props": {"line1": "9 Entity Row", "town": "Fedby", "postcode": "ZZ9 1FD"}}],
            residences=[{"person": made["parent"].id, "address": address, "from": date(2021, 1, 1), "to": None}],
            claims=[
                {
                    "person": made["parent"].id,
                    "id": str(uuid.uuid4()),
                    "props": {"type": "CARERS_ALLOWANCE", "status": "ACTIVE", "startDate": date(2022, 2, 2)},
                }
            ],
        ),
    )
    return made


async def test_representations_by_id_and_by_nino_resolve_in_order(gql: Gql, household_ids: dict[str, Person]) -> None:
    parent, child = household_ids["parent"], household_ids["child"]
    reps = [by_nino(child), by_id(parent), by_id(child), by_nino(parent)]
    body = await gql(ENTITIES % "id nino givenName", {"r": reps})
    assert "errors" not in body, body
    got = [(e["__typename"], e["id"], e["givenName"]) for e in body["data"]["_entities"]]
    assert got == [
        ("Person", child.id, "Cal"),
        ("Person", parent.id, "Pat"),
        ("Person", child.id, "Cal"),
        ("Person", parent.id, "Pat"),
    ]
    assert body["data"]["_entities"][0]["nino"] == child.nino  # normalised, whatever the key's spelling


async def test_unknown_and_malformed_keys_are_null_without_errors(gql: Gql, household_ids: dict[str, Person]) -> None:
    parent = household_ids["parent"]
    reps: list[dict[str, Any]] = [
        {"__typename": "Person", "id": str(uuid.uuid4())},  # well formed, nobody
        {"__typename": "Person", "nino": "AB000000A" if parent.nino != "AB000000A" else "AB000000B"},
        {"__typename": "Person", "id": "not-a-uuid"},
        {"__typename": "Person", "id": "' OR 1=1 //"},
        {"__typename": "Person", "nino": "QQ123456Z"},  # not a valid NINO
        {"__typename": "Person", "id": 42},
        {"__typename": "Person", "nino": ["AB123456C"]},
        {"__typename": "Person"},  # no key at all
        {"__typename": "Person", "email": "someone@example.org"},  # not a key of Person
        by_id(parent),
    ]
    body = await gql(ENTITIES % "id", {"r": reps})
    assert body == {"data": {"_entities": [None] * 9 + [{"__typename": "Person", "id": parent.id}]}}


async def test_malformed_representations_get_a_coded_error_in_their_own_slot(
    gql: Gql, household_ids: dict[str, Person]
) -> None:
    parent = household_ids["parent"]
    reps: list[Any] = ["Person", {"id": parent.id}, {"__typename": "Claim", "id": parent.id}, 7, by_id(parent)]
    body = await gql(ENTITIES % "id", {"r": reps})
    assert body["data"]["_entities"] == [None, None, None, None, {"__typename": "Person", "id": parent.id}]
    errors = sorted(body["errors"], key=lambda e: e["path"])
    assert [e["path"] for e in errors] == [["_entities", i] for i in range(4)]
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
    assert all("Traceback" not in e["message"] and "Claim" not in e["message"] for e in errors)


async def test_a_partner_reads_only_its_agreement_through_entities(
    gql: Gql, token: MintToken, household_ids: dict[str, Person]
) -> None:
    parent = household_ids["parent"]
    agreed = "id nino givenName familyName dateOfBirth"
    body = await gql(ENTITIES % agreed, {"r": [by_nino(parent)]}, headers=partner(token))
    assert "errors" not in body, body
    assert body["data"]["_entities"][0]["nino"] == parent.nino

    secrets = {
        "claims { type }": "CARERS_ALLOWANCE",
        "address { postcode }": "ZZ9 1FD",
        "addressHistory { address { line1 } }": "9 Entity Row",
        "children { givenName }": "Cal",
        "version": None,
        "status": "ACTIVE",
        "createdAt": None,
        "partner { givenName }": None,
    }
    for selection, secret in secrets.items():
        field = selection.split()[0]
        body = await gql(ENTITIES % f"id {selection}", {"r": [by_id(parent)]}, headers=partner(token))
        [entity] = body["data"]["_entities"]
        assert entity == {"__typename": "Person", "id": parent.id, field: None}, (selection, body)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN"} and error["path"] == ["_entities", 0, field]
        if secret is not None:
            assert secret not in str(body), (selection, body)


async def test_nothing_beyond_the_agreement_through_entities_nesting(
    gql: Gql, token: MintToken, household_ids: dict[str, Person]
) -> None:
    child = household_ids["child"]
    body = await gql(
        ENTITIES % "givenName parents { givenName nino claims { type } }", {"r": [by_id(child)]}, headers=partner(token)
    )
    assert body["data"]["_entities"] == [{"__typename": "Person", "givenName": "Cal", "parents": None}]
    assert household_ids["parent"].nino not in str(body) and "Pat" not in str(body)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_entities_is_a_root_field_that_needs_a_grant(
    gql: Gql, token: MintToken, household_ids: dict[str, Person]
) -> None:
    parent = household_ids["parent"]
    citizen = {"authorization": f"Bearer {token(None, subject='urn:fdc:gov.uk:2022:nobody', vot='Cl.Cm.P2')}"}
    auditor = {"authorization": f"Bearer {token(['auditor'], subject='auditor-fed')}", "x-purpose": "audit"}
    for headers in (citizen, auditor):
        body = await gql(ENTITIES % "id givenName", {"r": [by_id(parent)]}, headers=headers)
        assert body["data"] is None, body  # `_entities` is non-null: the refusal nulls the whole result
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert "Pat" not in str(body)
    body = await gql(ENTITIES % "id", {"r": [by_id(parent)]}, headers={}, expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_entity_reads_are_audited_like_any_other(
    gql: Gql, token: MintToken, household_ids: dict[str, Person]
) -> None:
    parent = household_ids["parent"]
    await gql(ENTITIES % "id familyName", {"r": [by_nino(parent)]}, headers=partner(token))
    auditor = {"authorization": f"Bearer {token(['auditor'], subject='auditor-fed')}", "x-purpose": "audit"}
    body = await gql(
        f'{{ person(id: "{parent.id}") {{ accessLog {{ actorRole actorDepartment purpose fields }} }} }}',
        headers=auditor,
    )
    assert {
        "actorRole": "partner",
        "actorDepartment": "HMRC",
        "purpose": "earnings-verification",
        "fields": ["familyName", "id"],
    } in body["data"]["person"]["accessLog"]


async def test_service_sdl_is_for_grants_that_compose_the_hub(gql: Gql, token: MintToken, settings: Settings) -> None:
    body = await gql("{ _service { sdl } }", headers=partner(token))
    sdl = body["data"]["_service"]["sdl"]
    assert '@key(fields: "id") @key(fields: "nino")' in sdl
    # what `hub schema --federation` prints: the configured connectors' fields included
    assert sdl == build_schema(connectors=schema_specs(settings)).subgraph_sdl()
    body = await gql("{ _service { sdl } }")  # the caseworker: a person-facing role, no such grant
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def people_in_bulk(graph: Graph, n: int) -> list[Person]:
    """`n` people in one write (the batching test needs hundreds, not their creation time)."""
    now = datetime.now(UTC)
    family = unique_family()
    rows, made = [], []
    for i in range(n):
        pid, nino, given = str(uuid.uuid4()), random_nino(), f"Bulk{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}"
        props = {
            "nino": nino,
            "givenName": given,
            "familyName": family,
            "givenNameKey": name_key(given),
            "familyNameKey": name_key(family),
            "dateOfBirth": date(1990, 1, 1),
            "status": "ACTIVE",
            "createdAt": now,
            "updatedAt": now,
            "version": 1,
        }
        rows.append({"id": pid, "props": props})
        made.append(
            Person(
                id=pid,
                nino=nino,
                given_name=given,
                family_name=family,
                date_of_birth=date(1990, 1, 1),
                status=PersonStatus.ACTIVE,
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
    await write_batch(graph, Batch(key=f"test:bulk:{family}", people=rows))
    return made


async def test_five_or_five_hundred_representations_cost_the_same_round_trips(
    gql: Gql, app: Starlette, graph: Graph
) -> None:
    people = await people_in_bulk(graph, 225)
    # Mixed keys, as a gateway sends them: by id, by NINO, and some that match nobody.
    many: list[dict[str, Any]] = [by_id(p) for p in people[:225]] + [by_nino(p) for p in people[:225]]
    many += [{"__typename": "Person", "id": str(uuid.uuid4())} for _ in range(25)]
    many += [{"__typename": "Person", "nino": random_nino()} for _ in range(25)]
    few = [by_id(people[0]), by_nino(people[1]), by_nino(people[2]), by_id(people[3]), many[-1]]
    assert len(many) == 500
    counter = app.state.resources.graph

    async def trips(reps: list[dict[str, Any]], selection: str) -> int:
        before = counter.stats.round_trips
        body = await gql(ENTITIES % selection, {"r": reps})
        used = counter.stats.round_trips - before
        assert "errors" not in body, body
        found = [e for e in body["data"]["_entities"] if e is not None]
        assert len(found) == len([r for r in reps if r in many[:450]])
        return int(used)

    # Resolving the entities alone (no personal field read, so no audit write): one lookup per key kind.
    assert await trips(few, "__typename") == await trips(many, "__typename") == 2
    # Reading fields adds the audit trail's writes, and still nothing per representation.
    small, large = await trips(few, "id nino givenName"), await trips(many, "id nino givenName")
    assert small == large, f"{small} round trips for 5 representations, {large} for 500"
