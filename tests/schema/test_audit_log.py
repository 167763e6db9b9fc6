"""Reads are audited before the response leaves; citizens see who looked; auditors look across people."""

from __future__ import annotations

import uuid

from conftest import Gql, MakePerson, MintToken

from graph import audit
from graph.driver import Graph
from graph.identity import link_identity


async def test_each_access_appears_once_with_the_fields_read(
    gql: Gql, graph: Graph, token: MintToken, make_person: MakePerson
) -> None:
    mum = await make_person(given="Mia")
    kid = await make_person(given="Kai")
    await gql(
        "mutation($a: ID!, $b: ID!) "
        "{ linkRelationship(input: {kind: PARENT_OF, fromId: $a, toId: $b}) { __typename } }",
        {"a": mum.id, "b": kid.id},
    )
    subject = f"urn:fdc:gov.uk:2022:{uuid.uuid4()}"
    await link_identity(graph, mum.id, "govuk-one-login", subject, method="test", linked_by="test")
    citizen = {"authorization": f"Bearer {token(None, subject=subject, vot='Cl.Cm.P2')}"}

    caseworker = {
        "authorization": f"Bearer {token(['caseworker'], subject='cw-audit')}",
        "x-purpose": "child-maintenance",
    }
    # One request reaching mum twice (directly and as her child's parent) is one access.
    body = await gql(
        f'{{ person(id: "{mum.id}") {{ nino children {{ parents {{ givenName }} }} }} }}', headers=caseworker
    )
    assert "errors" not in body
    # The record is already durable when the response arrives.
    [log] = await audit.access_log(graph, [mum.id])
    assert [(e.actor, e.purpose) for e in log] == [("cw-audit", "child-maintenance")]
    assert set(log[0].fields) == {"nino", "children", "givenName"}

    await gql(f'{{ personByNino(nino: "{mum.nino}") {{ familyName }} }}', headers=caseworker)
    body = await gql("{ me { accessLog { actorRole purpose fields actor } } }", headers=citizen)
    entries = body["data"]["me"]["accessLog"]
    assert [(e["actorRole"], e["purpose"]) for e in entries] == [("caseworker", "child-maintenance")] * 2
    assert [sorted(e["fields"]) for e in entries] == [["familyName"], ["children", "givenName", "nino"]]
    # The citizen is not told which member of staff it was (auditors are).
    assert all(e["actor"] is None for e in entries)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # The citizen's own reads were audited too, but are not listed back to them.
    body = await gql("{ me { accessLog { purpose } } }", headers=citizen)
    assert len(body["data"]["me"]["accessLog"]) == 2
    [log] = await audit.access_log(graph, [mum.id])
    assert sum(e.actor == subject for e in log) == 2


async def test_auditor_queries_across_people(gql: Gql, token: MintToken, make_person: MakePerson) -> None:
    a = await make_person(given="Ann")
    b = await make_person(given="Ben")
    actor = f"cw-{uuid.uuid4()}"
    caseworker = {"authorization": f"Bearer {token(['caseworker'], subject=actor)}", "x-purpose": "benefits-assessment"}
    await gql(
        f'{{ a: person(id: "{a.id}") {{ givenName }} b: person(id: "{b.id}") {{ givenName }} }}', headers=caseworker
    )

    auditor = {"authorization": f"Bearer {token(['auditor'], subject='auditor-9')}", "x-purpose": "audit"}
    body = await gql(
        f'{{ accessEvents(actor: "{actor}") {{ personId purpose fields actor }} '
        f'person(id: "{a.id}") {{ accessLog {{ actor purpose }} givenName }} }}',
        headers=auditor,
    )
    events = body["data"]["accessEvents"]
    assert sorted(e["personId"] for e in events) == sorted([a.id, b.id])
    assert {e["purpose"] for e in events} == {"benefits-assessment"}
    assert body["data"]["person"]["accessLog"][0] == {"actor": actor, "purpose": "benefits-assessment"}
    assert body["data"]["person"]["givenName"] is None  # auditors see the trail, not the record

    body = await gql(f'{{ accessEvents(actor: "{actor}") {{ personId }} }}')
    assert body["data"] == {"accessEvents": None}  # caseworkers cannot audit each other
