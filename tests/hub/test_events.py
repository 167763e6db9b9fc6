"""Events and subscriptions across two replicas: real uvicorn servers, real WebSockets, the session's
graph and Valkey. A webhook received by replica A reaches a subscriber on replica B; sockets are
authenticated by connection_init; every emitted field passes the same policy as a query's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from case_support import CaseFamily, case_family
from conftest import MintToken
from live_support import payment_body, serve, signed, webhook_secret
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import hub.events
from graph import audit
from graph.driver import Graph
from hub.app import connect_redis
from hub.events import RedisEvents
from hub.settings import Settings
from schema.events import Event, EventKind

PROTOCOL = "graphql-transport-ws"


@pytest.fixture(scope="module")
def secret() -> Iterator[str]:
    with webhook_secret("payments") as value:
        yield value


@pytest.fixture(scope="module")
def replicas(settings: Settings, secret: str) -> Iterator[tuple[str, str]]:
    with serve(settings) as a, serve(settings) as b:
        yield a, b


class Socket:
    """A graphql-transport-ws client: one socket, several operations."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    def _queue(self, op: str) -> asyncio.Queue[dict[str, Any]]:
        return self.inbox.setdefault(op, asyncio.Queue())

    async def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        message = {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self.ws.send(orjson.dumps(message).decode())

    async def receive(self, op: str, timeout: float = 15) -> dict[str, Any]:
        """The next `next` / `error` / `complete` message of `op`."""
        queue = self._queue(op)
        deadline = asyncio.get_running_loop().time() + timeout
        while queue.empty():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"nothing for {op}")
            raw = await asyncio.wait_for(self.ws.recv(), left)
            message = orjson.loads(raw)
            if message["type"] == "ping":
                await self.ws.send('{"type": "pong"}')
                continue
            self._queue(message.get("id", "")).put_nowait(message)
        return queue.get_nowait()


@asynccontextmanager
async def socket(base_url: str, payload: dict[str, Any] | None) -> AsyncIterator[Socket]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as ws:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await ws.send(orjson.dumps(init).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        yield Socket(ws)


async def refused(base_url: str, payload: dict[str, Any] | None) -> int:
    """The close code when a socket is refused at connection_init."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload or {}}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def staff(token: MintToken, purpose: str = "child-maintenance") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(['caseworker'], subject='caseworker-ws')}", "X-Purpose": purpose}


def citizen(token: MintToken, fam: CaseFamily, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(None, subject=fam.subjects[who], vot='Cl.Cm.P2')}"}


POSITION = """subscription($case: ID!, $view: CaseRole) { financialPosition(caseId: $case, viewAs: $view) {
  __typename
  ... on PayingPosition { paidPence feesToDatePence recentPayments { amountPence } }
  ... on ReceivingPosition { receivedPence expectedToDatePence }
} }"""
EVENTS = """subscription($person: ID!, $after: String) { personEvents(personId: $person, after: $after) {
  __typename position at
  ... on PaymentReceived { caseId amountPence }
} }"""


async def webhook(base_url: str, secret: str, case_id: str, amount: int) -> None:
    body = payment_body(case_id, amount, f"ref-{uuid.uuid4()}")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post(
            "/webhooks/payments", content=body, headers=signed(secret, f"msg_{uuid.uuid4().hex}", body)
        )
    assert response.status_code == 200 and response.json()["status"] == "applied", response.text


async def test_a_webhook_received_by_replica_a_reaches_subscribers_on_replica_b(
    replicas: tuple[str, str], graph: Graph, token: MintToken, secret: str
) -> None:
    a, b = replicas
    fam = await case_family(graph)
    async with socket(b, citizen(token, fam, "receiver")) as receiver, socket(b, staff(token)) as worker:
        await receiver.subscribe("r", POSITION, {"case": fam.case.id})
        await worker.subscribe("w", POSITION, {"case": fam.case.id, "view": "PAYING"})
        first_r = (await receiver.receive("r"))["payload"]["data"]["financialPosition"]
        first_w = (await worker.receive("w"))["payload"]["data"]["financialPosition"]
        assert first_r["__typename"] == "ReceivingPosition" and first_r["receivedPence"] == 4_800
        assert first_w["__typename"] == "PayingPosition" and first_w["paidPence"] == 5_000

        await webhook(a, secret, fam.case.id, 6_000)  # replica A

        then_r = await receiver.receive("r")
        then_w = await worker.receive("w")
    position = then_r["payload"]["data"]["financialPosition"]
    assert "errors" not in then_r["payload"]
    # The rest of the first £100 instalment (5,000 of maintenance + 2,000 fee): the receiver gets 4% less.
    assert position == {
        "__typename": "ReceivingPosition",
        "receivedPence": 9_600,
        "expectedToDatePence": first_r["expectedToDatePence"],
    }
    assert then_w["payload"]["data"]["financialPosition"]["paidPence"] == 11_000
    # Each emission was a read of both parents' data, audited before it was sent.
    [payer_log] = await audit.access_log(graph, [fam.payer.id])
    emitted = [e for e in payer_log if e.actor == "caseworker-ws" and "financialPosition" in e.fields]
    assert len(emitted) == 2 and {e.purpose for e in emitted} == {"child-maintenance"}
    assert [p["amountPence"] for p in then_w["payload"]["data"]["financialPosition"]["recentPayments"]] == [
        6_000,
        5_000,
    ]


async def test_unauthorised_subscribers_are_refused(replicas: tuple[str, str], graph: Graph, token: MintToken) -> None:
    _, b = replicas
    assert await refused(b, None) == 4403
    assert await refused(b, {"Authorization": "Bearer not-a-jwt"}) == 4403
    assert await refused(b, {"Authorization": f"Bearer {token(['caseworker'])}"}) == 4403  # no purpose stated
    fam = await case_family(graph, payment=False)
    # Authenticated, but not allowed this subscription or this case.
    async with socket(b, staff(token, "benefits-assessment")) as other_purpose:
        await other_purpose.subscribe("1", POSITION, {"case": fam.case.id, "view": "PAYING"})
        assert await _error_codes(other_purpose, "1") == ["FORBIDDEN"]
    async with socket(b, citizen(token, fam, "stranger")) as stranger:
        await stranger.subscribe("2", POSITION, {"case": fam.case.id})
        assert await _error_codes(stranger, "2") == ["NOT_FOUND"]
        await stranger.subscribe("3", EVENTS, {"person": fam.payer.id})
        assert await _error_codes(stranger, "3") == ["FORBIDDEN"]
    async with socket(b, citizen(token, fam, "receiver")) as receiver:
        await receiver.subscribe("4", POSITION, {"case": fam.case.id, "view": "PAYING"})
        assert await _error_codes(receiver, "4") == ["FORBIDDEN"]
        # Only subscriptions run over a socket: queries go over HTTP, where reads are audited.
        await receiver.subscribe("5", "{ me { id } }")
        assert await _error_codes(receiver, "5") == ["FORBIDDEN"]


async def _error_codes(sock: Socket, op: str) -> list[str]:
    message = await sock.receive(op)
    if message["type"] == "error":
        errors = message["payload"]
    else:
        assert message["type"] == "next", message
        errors = message["payload"].get("errors", [])
    return [e.get("extensions", {}).get("code") for e in errors]


async def test_person_events_are_filtered_by_role_and_replay_from_a_position(
    replicas: tuple[str, str], graph: Graph, token: MintToken, secret: str
) -> None:
    a, b = replicas
    fam = await case_family(graph, payment=False)
    await webhook(a, secret, fam.case.id, 1_000)
    await webhook(b, secret, fam.case.id, 2_000)
    async with socket(b, citizen(token, fam, "payer")) as payer, socket(a, citizen(token, fam, "receiver")) as rec:
        await payer.subscribe("p", EVENTS, {"person": fam.payer.id, "after": "0-0"})
        await rec.subscribe("r", EVENTS, {"person": fam.receiver.id, "after": "0-0"})
        paid = [(await payer.receive("p"))["payload"] for _ in range(2)]
        received = [(await rec.receive("r"))["payload"] for _ in range(2)]
        # From the first event's position on, only the second is replayed.
        await payer.subscribe(
            "p2", EVENTS, {"person": fam.payer.id, "after": paid[0]["data"]["personEvents"]["position"]}
        )
        resumed = (await payer.receive("p2"))["payload"]["data"]["personEvents"]
        # Live, after the replay.
        await webhook(a, secret, fam.case.id, 3_000)
        live = (await payer.receive("p2"))["payload"]["data"]["personEvents"]
    assert [p["data"]["personEvents"]["amountPence"] for p in paid] == [1_000, 2_000]
    assert all("errors" not in p for p in paid)
    # The receiving parent hears a payment landed, but what was paid is the paying parent's detail.
    for payload in received:
        event = payload["data"]["personEvents"]
        assert event["__typename"] == "PaymentReceived" and event["caseId"] == fam.case.id
        assert event["amountPence"] is None
        assert [e["extensions"]["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert resumed["amountPence"] == 2_000 and resumed["position"] == paid[1]["data"]["personEvents"]["position"]
    assert live["amountPence"] == 3_000


async def test_a_subscriber_that_falls_behind_catches_up_from_the_stream(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.events, "QUEUE_SIZE", 4)
    redis = connect_redis(settings)
    bus = RedisEvents(redis)
    await bus.start()
    topic = f"person:{uuid.uuid4()}"
    person = topic.removeprefix("person:")
    try:
        async with bus.listen(topic) as events:
            for n in range(30):
                await bus.publish(Event(EventKind.PROFILE_CHANGED, (person,), data={"fields": [str(n)]}))
            got = []
            async for event in events:
                got.append(event.data["fields"][0])
                if len(got) == 30:
                    break
        assert got == [str(n) for n in range(30)]
        assert await redis.xlen(f"hub:stream:{topic}") == 30
    finally:
        await bus.close()
        await redis.aclose()


async def test_a_profile_change_on_one_replica_is_heard_on_the_other(
    replicas: tuple[str, str], graph: Graph, token: MintToken, caseworker: dict[str, str]
) -> None:
    a, b = replicas
    fam = await case_family(graph, payment=False)
    query = (
        'subscription($p: ID!) { personEvents(personId: $p, after: "0-0") '
        "{ __typename ... on ProfileChanged { fields } } }"
    )
    async with socket(b, citizen(token, fam, "payer")) as payer:
        # From the stream's start: the event arrives whether or not it beats the subscription to Valkey.
        await payer.subscribe("p", query, {"p": fam.payer.id})
        async with httpx.AsyncClient(base_url=a, timeout=30) as http:
            response = await http.post(
                "/graphql",
                json={
                    "query": 'mutation($id: ID!) { updatePerson(input: {id: $id, version: 1, givenName: "Pat"}) '
                    "{ __typename } }",
                    "variables": {"id": fam.payer.id},
                },
                headers=caseworker,
            )
        assert response.json()["data"]["updatePerson"]["__typename"] == "Person", response.text
        event = (await payer.receive("p"))["payload"]["data"]["personEvents"]
    assert event == {"__typename": "ProfileChanged", "fields": ["givenName"]}


async def test_claim_status_and_link_accepted_events_reach_the_person_typed(
    replicas: tuple[str, str], settings: Settings, graph: Graph, token: MintToken
) -> None:
    """The publishing helpers other writes call (claim status, identity links): typed, the person's own."""
    from schema.events import claim_status_changed, link_accepted

    _, b = replicas
    fam = await case_family(graph, payment=False)
    query = (
        'subscription($p: ID!) { personEvents(personId: $p, after: "0-0") { __typename '
        "... on ClaimStatusChanged { claimId claimType status previousStatus } "
        "... on LinkAccepted { connector method confidence } } }"
    )
    redis = connect_redis(settings)
    bus = RedisEvents(redis)
    await bus.start()
    try:
        await bus.publish(claim_status_changed(fam.payer.id, "claim-1", "UNIVERSAL_CREDIT", "AWARDED", "PENDING"))
        await bus.publish(link_accepted(fam.payer.id, "social", "model", 0.97))
        async with socket(b, citizen(token, fam, "payer")) as payer:
            await payer.subscribe("p", query, {"p": fam.payer.id})
            got = [(await payer.receive("p"))["payload"]["data"]["personEvents"] for _ in range(2)]
        # Another citizen cannot subscribe to this person's events at all.
        async with socket(b, citizen(token, fam, "receiver")) as other:
            await other.subscribe("o", query, {"p": fam.payer.id})
            refused = (await other.receive("o"))["payload"]
    finally:
        await bus.close()
        await redis.aclose()
    assert got == [
        {
            "__typename": "ClaimStatusChanged",
            "claimId": "claim-1",
            "claimType": "UNIVERSAL_CREDIT",
            "status": "AWARDED",
            "previousStatus": "PENDING",
        },
        {"__typename": "LinkAccepted", "connector": "social", "method": "model", "confidence": 0.97},
    ]
    assert "FORBIDDEN" in str(refused)
