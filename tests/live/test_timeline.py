"""Person.timeline: life events written with the change that causes them, paged newest first, behind policy.

The privacy rule under test: each event is one person's own, so the receiving parent never sees anything
from the paying parent's timeline (moves, employer, what they paid), whatever path they try.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from case_support import CaseFamily, case_family
from conftest import Gql, MintToken

from graph import audit, consent, maintenance, timeline
from graph.driver import Graph
from graph.errors import InvalidValue
from graph.money import Frequency
from graph.timeline import LifeEventType, NewLifeEvent

TIMELINE = """query($id: ID!, $first: Int, $after: String) { person(id: $id) {
  timeline(first: $first, after: $after) {
    edges { cursor node { id type occurredAt source caseId summary detail } }
    pageInfo { hasNextPage endCursor } } } }"""
ME = "{ me { id timeline { nodes { type detail caseId } } } }"


@pytest.fixture(scope="module")
async def fam(graph: Graph) -> CaseFamily:
    fam = await case_family(graph)
    # The paying parent's own life: a move and a new employer (as a connector would report them).
    await timeline.record_events(
        graph,
        [
            NewLifeEvent(fam.payer.id, LifeEventType.MOVED_ADDRESS, data={"postcode": "ZP9 9PP"}),
            NewLifeEvent(fam.payer.id, LifeEventType.EMPLOYER_CHANGED, "social", data={"employer": "Acme Widgets"}),
        ],
    )
    return fam


def citizen(token: MintToken, fam: CaseFamily, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(None, subject=fam.subjects[who], vot='Cl.Cm.P2')}"}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def types(graph: Graph, person_id: str) -> list[LifeEventType]:
    return [e.type for e in (await timeline.timeline(graph, person_id, 100)).events]


async def test_case_schedule_and_payment_writes_put_one_event_on_each_parents_timeline(
    graph: Graph, fam: CaseFamily
) -> None:
    payer = (await timeline.timeline(graph, fam.payer.id, 100)).events
    receiver = (await timeline.timeline(graph, fam.receiver.id, 100)).events
    # The move and the employer were recorded in one batch (one timestamp, so either order).
    assert {e.type for e in payer[:2]} == {LifeEventType.MOVED_ADDRESS, LifeEventType.EMPLOYER_CHANGED}
    assert [e.type for e in payer[2:]] == [
        LifeEventType.PAYMENT_MADE,
        LifeEventType.SCHEDULE_CHANGED,
        LifeEventType.MAINTENANCE_CASE_OPENED,
    ]
    assert [e.type for e in receiver] == [
        LifeEventType.PAYMENT_RECEIVED,
        LifeEventType.SCHEDULE_CHANGED,
        LifeEventType.MAINTENANCE_CASE_OPENED,
    ]
    paid = next(e for e in payer if e.type is LifeEventType.PAYMENT_MADE)
    received = receiver[0]
    assert paid.data["amountPence"] == 5_000 and paid.case_id == fam.case.id
    # The receiving parent's side says money came in, not what the other parent paid.
    assert "amountPence" not in received.data and received.data["paymentId"] == paid.data["paymentId"]
    assert {e.data["role"] for e in payer + receiver if e.type is LifeEventType.MAINTENANCE_CASE_OPENED} == {
        "PAYING",
        "RECEIVING",
    }
    assert await types(graph, fam.child.id) == []


async def test_a_refused_write_leaves_no_event_and_a_duplicate_payment_adds_none(graph: Graph) -> None:
    fam = await case_family(graph, payment=False)
    before = await types(graph, fam.payer.id)
    start = datetime.now(UTC).date() - timedelta(days=60)
    with pytest.raises(InvalidValue):  # not after the current schedule's start: refused, rolled back
        await maintenance.change_schedule(graph, fam.case.id, 9_000, Frequency.WEEKLY, start)
    assert await types(graph, fam.payer.id) == before
    paid_at = datetime.now(UTC) - timedelta(hours=1)
    for _ in range(3):
        await maintenance.record_payment(graph, fam.case.id, 700, paid_at, "test:dup-timeline-" + fam.case.id)
    assert await types(graph, fam.payer.id) == [LifeEventType.PAYMENT_MADE, *before]
    await maintenance.change_schedule(graph, fam.case.id, 9_000, Frequency.WEEKLY, datetime.now(UTC).date())
    assert (await types(graph, fam.receiver.id))[:2] == [LifeEventType.SCHEDULE_CHANGED, LifeEventType.PAYMENT_RECEIVED]


async def test_consent_given_and_withdrawn_are_on_the_timeline(graph: Graph, fam: CaseFamily) -> None:
    await consent.grant_consent(graph, fam.stranger.id, "social", "child-maintenance")
    await consent.revoke_consent(graph, fam.stranger.id, "social")
    events = (await timeline.timeline(graph, fam.stranger.id, 10)).events
    assert [e.type for e in events] == [LifeEventType.CONSENT_REVOKED, LifeEventType.CONSENT_GRANTED]
    assert events[0].data == {"connector": "social", "purpose": "child-maintenance"}


async def test_pages_are_keyset_newest_first_with_ties_broken_by_id(gql: Gql, graph: Graph, make_person: Any) -> None:
    person = await make_person()
    # One batch shares one timestamp: the id breaks the tie, so no event is skipped or repeated.
    await timeline.record_events(
        graph, [NewLifeEvent(person.id, LifeEventType.CLAIM_STATUS_CHANGED, data={"n": i}) for i in range(12)]
    )
    await timeline.record_events(
        graph, [NewLifeEvent(person.id, LifeEventType.EMPLOYER_CHANGED, data={"n": i}) for i in range(13)]
    )
    seen: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        body = await gql(TIMELINE, {"id": person.id, "first": 10, "after": after})
        assert "errors" not in body, body
        conn = body["data"]["person"]["timeline"]
        seen += [e["node"] for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 3 and len(seen) == 25 and len({n["id"] for n in seen}) == 25
    assert [n["type"] for n in seen] == ["EMPLOYER_CHANGED"] * 13 + ["CLAIM_STATUS_CHANGED"] * 12
    keys = [(n["occurredAt"], n["id"]) for n in seen]
    assert keys == sorted(keys, reverse=True)
    assert seen[0]["summary"] == "New employer" and seen[0]["source"] == "hub"


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 0}, "BAD_USER_INPUT"),
        ({"first": 101}, "BAD_USER_INPUT"),
        ({"after": "not-a-cursor"}, "BAD_USER_INPUT"),
        # A people-search cursor is well formed but not a timeline cursor.
        ({"after": "WyJhIiwiYiIsImMiXQ"}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_paging_arguments_are_refused_clearly(
    gql: Gql, fam: CaseFamily, variables: dict[str, Any], code: str
) -> None:
    body = await gql(TIMELINE, {"id": fam.payer.id, **variables})
    assert body["data"]["person"]["timeline"] is None
    assert codes(body) == [code] and body["errors"][0]["extensions"]["field"] in {"first", "after"}


async def test_each_parent_reads_their_own_timeline_only(gql: Gql, token: MintToken, fam: CaseFamily) -> None:
    payer = await gql(ME, headers=citizen(token, fam, "payer"))
    assert "errors" not in payer, payer
    payer_types = [n["type"] for n in payer["data"]["me"]["timeline"]["nodes"]]
    assert {"MOVED_ADDRESS", "EMPLOYER_CHANGED", "PAYMENT_MADE"} <= set(payer_types)

    receiver = await gql(ME, headers=citizen(token, fam, "receiver"))
    nodes = receiver["data"]["me"]["timeline"]["nodes"]
    assert [n["type"] for n in nodes] == ["PAYMENT_RECEIVED", "SCHEDULE_CHANGED", "MAINTENANCE_CASE_OPENED"]
    text = str(receiver)
    assert "ZP9 9PP" not in text and "Acme" not in text and "5000" not in text

    # Through the case, the other parent is a name only: their timeline is refused, nothing leaks.
    query = "query($id: ID!) { maintenanceCase(id: $id) { payingParent { id timeline { nodes { type detail } } } } }"
    body = await gql(query, {"id": fam.case.id}, headers=citizen(token, fam, "receiver"))
    assert body["data"]["maintenanceCase"]["payingParent"] == {"id": fam.payer.id, "timeline": None}
    assert codes(body) == ["FORBIDDEN"] and "Acme" not in str(body) and "ZP9" not in str(body)


@pytest.mark.parametrize(
    "who",
    [
        "stranger citizen",
        "caseworker without purpose",
        "caseworker for benefits",
        "partner",
        "auditor",
    ],
)
async def test_others_are_refused(gql: Gql, token: MintToken, fam: CaseFamily, who: str) -> None:
    headers = {
        "stranger citizen": citizen(token, fam, "stranger"),
        "caseworker without purpose": {"authorization": f"Bearer {token(['caseworker'])}"},
        "caseworker for benefits": {
            "authorization": f"Bearer {token(['caseworker'])}",
            "x-purpose": "benefits-assessment",
        },
        "partner": {
            "authorization": f"Bearer {token(['partner'], department='HMRC', purpose='earnings-verification')}"
        },
        "auditor": {"authorization": f"Bearer {token(['auditor'])}", "x-purpose": "audit"},
    }[who]
    refused_at_the_door = who == "caseworker without purpose"
    body = await gql(TIMELINE, {"id": fam.payer.id}, headers=headers, expect_status=403 if refused_at_the_door else 200)
    assert (body.get("data") or {}).get("person") in (None, {"timeline": None}), body
    assert ("PURPOSE_REQUIRED" if refused_at_the_door else "FORBIDDEN") in codes(body), body
    assert "Acme" not in str(body)


async def test_reading_a_timeline_is_audited(gql: Gql, graph: Graph, fam: CaseFamily) -> None:
    body = await gql(TIMELINE, {"id": fam.receiver.id, "first": 1})
    assert "errors" not in body and body["data"]["person"]["timeline"]["pageInfo"]["hasNextPage"]
    [log] = await audit.access_log(graph, [fam.receiver.id])
    assert any("timeline" in e.fields and e.actor == "caseworker-1" for e in log), log
