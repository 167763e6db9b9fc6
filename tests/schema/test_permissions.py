"""Who sees what: a matrix of principals x Person fields x paths (direct, nested), looking for leaks.

Expectations are written out here from the data-sharing rules, not derived from the policy file,
so a policy edit that widens access makes this test fail until someone agrees to it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from conftest import Gql, MintToken

from graph import household
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.identity import link_identity
from graph.models import RelationshipKind

FIELDS: dict[str, str] = {
    "id": "id",
    "nino": "nino",
    "givenName": "givenName",
    "familyName": "familyName",
    "dateOfBirth": "dateOfBirth",
    "status": "status",
    "version": "version",
    "createdAt": "createdAt",
    "parents": "parents { id }",
    "children": "children { id }",
    "partner": "partner { id }",
    "caresFor": "caresFor { hoursPerWeek }",
    "address": "address { postcode }",
    "addressHistory": "addressHistory { from }",
    "claims": "claims { type }",
    "accessLog": "accessLog { purpose }",
}
ALL = set(FIELDS)
IDENTITY = {"id", "nino", "givenName", "familyName", "dateOfBirth"}
CITIZEN_OWN = ALL - {"version", "createdAt"}

# principal -> (fields readable on the direct path, fields readable on the nested path)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "caseworker": (ALL - {"accessLog"}, ALL - {"accessLog"}),
    "citizen": (CITIZEN_OWN, {"id", "givenName", "familyName"}),
    "partner": (IDENTITY, set()),
    "auditor": ({"id", "accessLog"}, set()),
}


@pytest.fixture(scope="module")
async def household_ids(graph: Graph) -> dict[str, Any]:
    """Mum (the citizen), dad and a child, with an address and a claim for mum."""
    from support import random_nino, unique_family

    from graph.models import NewPerson
    from graph.person import create_person

    family = unique_family()
    made = {}
    for role, given, born in (
        ("mum", "Maria", date(1984, 2, 3)),
        ("dad", "Dev", date(1983, 7, 9)),
        ("kid", "Kit", date(2016, 1, 1)),
    ):
        made[role] = await create_person(
            graph, NewPerson(given_name=given, family_name=family, nino=random_nino(), date_of_birth=born)
        )
    await household.link(graph, RelationshipKind.PARENT_OF, made["mum"].id, made["kid"].id)
    await household.link(graph, RelationshipKind.PARENT_OF, made["dad"].id, made["kid"].id)
    await household.link(graph, RelationshipKind.PARTNER_OF, made["mum"].id, made["dad"].id)
    await household.link(graph, RelationshipKind.CARES_FOR, made["mum"].id, made["dad"].id, 20)
    address = str(uuid.uuid4())
    batch = Batch(
        key=f"test:{address}",
        addresses=[
            {"id": address, "props": {"line1": "1 Leak Lane", "line2": None, "town": "Testford", "postcode": "ZX1 9QQ"}}
        ],
        residences=[
            {"person": pid, "address": address, "from": date(2020, 1, 1), "to": None}
            for pid in (made["mum"].id, made["kid"].id)
        ],
        claims=[
            {
                "person": made["mum"].id,
                "id": str(uuid.uuid4()),
                "props": {
                    "type": "CHILD_BENEFIT",
                    "status": "ACTIVE",
                    "startDate": date(2021, 5, 1),
                    "amountPence": 10235,
                },
            }
        ],
    )
    await write_batch(graph, batch)
    subject = f"urn:fdc:gov.uk:2022:{uuid.uuid4()}"
    await link_identity(graph, made["mum"].id, "govuk-one-login", subject, method="test", linked_by="test")
    return {"people": made, "subject": subject}


def headers_for(who: str, token: MintToken, subject: str, vot: str = "Cl.Cm.P2") -> dict[str, str]:
    if who == "caseworker":
        return {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "child-maintenance"}
    if who == "citizen":
        return {"authorization": f"Bearer {token(None, subject=subject, vot=vot)}"}
    if who == "partner":
        return {"authorization": f"Bearer {token(['partner'], department='HMRC', purpose='earnings-verification')}"}
    if who == "auditor":
        return {"authorization": f"Bearer {token(['auditor'], subject='auditor-1')}", "x-purpose": "audit"}
    raise AssertionError(who)


def document(who: str, path: str, selection: str, ids: dict[str, Any]) -> str:
    mum, kid = ids["people"]["mum"].id, ids["people"]["kid"].id
    if who == "citizen":
        return f"{{ me {{ {selection} }} }}" if path == "direct" else f"{{ me {{ children {{ {selection} }} }} }}"
    if path == "direct":
        return f'{{ person(id: "{mum}") {{ {selection} }} }}'
    return f'{{ person(id: "{kid}") {{ parents {{ {selection} }} }} }}'


def target(body: dict[str, Any], who: str, path: str) -> Any:
    data = body["data"]
    root = data["me"] if who == "citizen" else data["person"]
    if path == "direct":
        return root
    if root is None:
        return None
    nested = root["children"] if who == "citizen" else root["parents"]
    return nested


@pytest.mark.parametrize("path", ["direct", "nested"])
@pytest.mark.parametrize("who", sorted(EXPECTED))
async def test_field_matrix(gql: Gql, token: MintToken, household_ids: dict[str, Any], who: str, path: str) -> None:
    allowed = EXPECTED[who][0 if path == "direct" else 1]
    mum = household_ids["people"]["mum"]
    secrets = {"nino": mum.nino, "address": "ZX1 9QQ", "claims": "CHILD_BENEFIT"}
    headers = headers_for(who, token, household_ids["subject"])
    leaks = []
    for field, selection in FIELDS.items():
        body = await gql(document(who, path, selection, household_ids), headers=headers)
        value = target(body, who, path)
        errors = body.get("errors", [])
        if path == "nested" and who != "citizen" and field != "id" and value is None:
            readable = False  # the edge itself is forbidden: nothing beyond it can be read
        elif isinstance(value, list):
            readable = any(v is not None and v.get(field) is not None for v in value)
        else:
            readable = value is not None and value.get(field) is not None
        forbidden = any(e["extensions"]["code"] == "FORBIDDEN" for e in errors)
        if field in allowed:
            if not readable or forbidden:
                leaks.append(f"{field}: should be readable, got {body}")
        else:
            if readable or not forbidden:
                leaks.append(f"{field}: should be FORBIDDEN, got {body}")
            text = str(body.get("data"))
            for name, secret in secrets.items():
                if name == field and path == "direct" and secret in text:
                    leaks.append(f"{field}: value {secret!r} leaked")
        if forbidden:
            assert all(set(e["extensions"]) == {"code"} for e in errors if e["extensions"]["code"] == "FORBIDDEN")
    assert not leaks, "\n".join(leaks)


async def test_citizen_reaches_only_their_own_record(gql: Gql, token: MintToken, household_ids: dict[str, Any]) -> None:
    headers = headers_for("citizen", token, household_ids["subject"])
    dad = household_ids["people"]["dad"]
    for query in (f'{{ person(id: "{dad.id}") {{ id }} }}', f'{{ personByNino(nino: "{dad.nino}") {{ id }} }}'):
        body = await gql(query, headers=headers)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert dad.id not in str(body["data"])
    body = await gql("{ me { id partner { givenName nino address { postcode } } } }", headers=headers)
    assert body["data"]["me"]["partner"] == {"givenName": "Dev", "nino": None, "address": None}
    assert dad.nino not in str(body)
    body = await gql('mutation { updatePerson(input: {id: "x", version: 1}) { __typename } }', headers=headers)
    assert body["data"] == {"updatePerson": None} and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_citizen_signed_in_without_a_linked_record_sees_nothing(gql: Gql, token: MintToken) -> None:
    body = await gql(
        "{ me { id nino } }", headers={"authorization": f"Bearer {token(None, subject='unlinked', vot='Cl.Cm.P2')}"}
    )
    assert body == {"data": {"me": None}}


async def test_money_needs_a_verified_identity(gql: Gql, token: MintToken, household_ids: dict[str, Any]) -> None:
    query = "{ me { claims { type amountPence } } }"
    body = await gql(query, headers=headers_for("citizen", token, household_ids["subject"], vot="Cl.Cm.P2"))
    assert body["data"]["me"]["claims"] == [{"type": "CHILD_BENEFIT", "amountPence": 10235}]
    for weak in ("Cl.Cm", "Cl.P2", ""):
        body = await gql(query, headers=headers_for("citizen", token, household_ids["subject"], vot=weak))
        assert body["data"]["me"]["claims"] == [{"type": "CHILD_BENEFIT", "amountPence": None}]
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "10235" not in str(body)


async def test_partner_cannot_reach_beyond_its_agreement_through_mutations_or_search(
    gql: Gql, token: MintToken, household_ids: dict[str, Any]
) -> None:
    headers = headers_for("partner", token, household_ids["subject"])
    mum = household_ids["people"]["mum"]
    link = f'linkRelationship(input: {{kind: PARTNER_OF, fromId: "{mum.id}", toId: "{mum.id}"}})'
    body = await gql(f"mutation {{ {link} {{ __typename }} }}", headers=headers)
    assert body["data"] == {"linkRelationship": None}
    body = await gql(
        f'{{ people(filter: {{familyName: "{mum.family_name}"}}) {{ nodes {{ nino }} }} }}', headers=headers
    )
    assert body["data"] == {"people": None} and mum.nino not in str(body)


async def test_subject_access_export_is_the_citizens_own(
    gql: Gql, token: MintToken, household_ids: dict[str, Any]
) -> None:
    citizen = headers_for("citizen", token, household_ids["subject"])
    mum, dad = household_ids["people"]["mum"], household_ids["people"]["dad"]
    body = await gql("{ subjectAccessExport }", headers=citizen)
    doc = body["data"]["subjectAccessExport"]
    assert doc["person"]["nino"] == mum.nino and doc["claims"][0]["amountPence"] == 10235
    assert {r["type"] for r in doc["relationships"]} == {"PARENT_OF", "PARTNER_OF", "CARES_FOR"}
    body = await gql(f'{{ subjectAccessExport(personId: "{dad.id}") }}', headers=citizen)
    assert body["data"] == {"subjectAccessExport": None} and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert dad.nino not in str(body)
    body = await gql(f'{{ subjectAccessExport(personId: "{mum.id}") }}')  # a caseworker has no such grant
    assert body["data"] == {"subjectAccessExport": None}
