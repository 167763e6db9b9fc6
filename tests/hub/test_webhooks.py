"""POST /webhooks/{connector} over real HTTP: Standard Webhooks signatures, tolerance, idempotency, refusals.

Every refusal is proven to change nothing: no payment, no receipt (so a corrected retry still applies).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from case_support import CaseFamily, case_family
from live_support import new_secret, payment_body, serve, signed, webhook_secret

from graph import maintenance
from graph.driver import Graph
from graph.webhooks import receipt_exists
from hub.settings import Settings
from hub.webhooks import verify


@pytest.fixture(scope="module")
def secret() -> Iterator[str]:
    with webhook_secret("payments") as value:
        yield value


@pytest.fixture(scope="module")
def base_url(settings: Settings, secret: str) -> Iterator[str]:
    with serve(settings) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
async def fam(graph: Graph) -> CaseFamily:
    return await case_family(graph, payment=False)


async def payments(graph: Graph, case_id: str) -> list[int]:
    return [p.amount_pence for p in (await maintenance.get_case(graph, case_id)).payments]


async def post(http: httpx.AsyncClient, body: bytes, headers: dict[str, Any], connector: str = "payments") -> Any:
    return await http.post(f"/webhooks/{connector}", content=body, headers=headers)


async def test_a_signed_payment_is_committed_before_the_200_and_moves_the_position(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    before = await payments(graph, fam.case.id)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 1_234, f"ref-{uuid.uuid4()}")
    response = await post(http, body, signed(secret, webhook_id, body))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    # Committed by the time the 2xx arrived: read straight from the graph, no waiting.
    assert await payments(graph, fam.case.id) == [*before, 1_234]
    assert await receipt_exists(graph, "payments", webhook_id)


async def test_a_duplicate_is_acknowledged_and_not_applied_twice(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 777, f"ref-{uuid.uuid4()}")
    first = await post(http, body, signed(secret, webhook_id, body))
    before = await payments(graph, fam.case.id)
    # A retry is re-signed with a new timestamp but carries the same id and body.
    again = await post(http, body, signed(secret, webhook_id, body, datetime.now(UTC) + timedelta(seconds=3)))
    assert (first.json()["status"], again.status_code, again.json()["status"]) == ("applied", 200, "duplicate")
    assert await payments(graph, fam.case.id) == before


async def test_concurrent_duplicates_are_applied_once(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    before = await payments(graph, fam.case.id)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 4_242, f"ref-{uuid.uuid4()}")
    headers = signed(secret, webhook_id, body)
    responses = await asyncio.gather(*(post(http, body, headers) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert sorted(r.json()["status"] for r in responses) == ["applied"] + ["duplicate"] * 7
    assert await payments(graph, fam.case.id) == [*before, 4_242]


async def test_the_same_payment_under_a_new_webhook_id_is_one_payment(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    body = payment_body(fam.case.id, 999, f"ref-{uuid.uuid4()}")
    first = await post(http, body, signed(secret, f"msg_{uuid.uuid4().hex}", body))
    before = await payments(graph, fam.case.id)
    second = await post(http, body, signed(secret, f"msg_{uuid.uuid4().hex}", body))
    assert (first.json()["status"], second.json()["status"]) == ("applied", "duplicate")
    assert await payments(graph, fam.case.id) == before


def tamper(body: bytes) -> bytes:
    return body.replace(b'"amountPencePaid": 500', b'"amountPencePaid": 50000')


REFUSALS = {
    # name: (status, code)
    "bad signature": (401, "WEBHOOK_SIGNATURE_INVALID"),
    "tampered body": (401, "WEBHOOK_SIGNATURE_INVALID"),
    "other secret": (401, "WEBHOOK_SIGNATURE_INVALID"),
    "garbage signature": (401, "WEBHOOK_SIGNATURE_INVALID"),
    "stale timestamp": (400, "WEBHOOK_TIMESTAMP_STALE"),
    "future timestamp": (400, "WEBHOOK_TIMESTAMP_STALE"),
    "missing headers": (400, "WEBHOOK_HEADERS_MISSING"),
    "not json": (422, "WEBHOOK_BODY_INVALID"),
    "negative amount": (422, "WEBHOOK_BODY_INVALID"),
    "no time zone": (422, "WEBHOOK_BODY_INVALID"),
    "other event type": (422, "WEBHOOK_EVENT_UNSUPPORTED"),
    "unknown case": (422, "UNKNOWN_CASE"),
    "unknown connector": (404, "UNKNOWN_CONNECTOR"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refusals_are_coded_and_change_nothing(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily, case: str
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    reference = f"ref-{uuid.uuid4()}"
    body = payment_body(fam.case.id, 500, reference)
    connector = "payments"
    headers = signed(secret, webhook_id, body)
    now = datetime.now(UTC)
    if case == "bad signature":
        headers["webhook-signature"] = "v1," + "A" * 44
    elif case == "tampered body":
        body = tamper(body)
    elif case == "other secret":
        headers = signed(new_secret(), webhook_id, body)
    elif case == "garbage signature":
        headers["webhook-signature"] = "v1,%%%not-base64 nonsense"
    elif case == "stale timestamp":
        headers = signed(secret, webhook_id, body, now - timedelta(minutes=6))
    elif case == "future timestamp":
        headers = signed(secret, webhook_id, body, now + timedelta(minutes=6))
    elif case == "missing headers":
        del headers["webhook-signature"]
    elif case == "not json":
        body = b"{not json"
        headers = signed(secret, webhook_id, body)
    elif case == "negative amount":
        body = payment_body(fam.case.id, -5, reference)
        headers = signed(secret, webhook_id, body)
    elif case == "no time zone":
        body = payment_body(fam.case.id, 500, reference, datetime(2026, 1, 1, 12))
        headers = signed(secret, webhook_id, body)
    elif case == "other event type":
        body = body.replace(b"payment.received", b"payment.refunded")
        headers = signed(secret, webhook_id, body)
    elif case == "unknown case":
        body = payment_body(str(uuid.uuid4()), 500, reference)
        headers = signed(secret, webhook_id, body)
    elif case == "unknown connector":
        connector = "nosuch"
    before = await payments(graph, fam.case.id)

    response = await post(http, body, headers, connector)

    status, code = REFUSALS[case]
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert await payments(graph, fam.case.id) == before
    assert not await receipt_exists(graph, connector, webhook_id)


async def test_a_refused_delivery_can_be_retried_correctly(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 321, f"ref-{uuid.uuid4()}")
    refused = await post(http, body, {**signed(secret, webhook_id, body), "webhook-signature": "v1,AAAA"})
    before = await payments(graph, fam.case.id)
    retried = await post(http, body, signed(secret, webhook_id, body))
    assert (refused.status_code, retried.status_code, retried.json()["status"]) == (401, 200, "applied")
    assert await payments(graph, fam.case.id) == [*before, 321]


async def test_a_reused_id_with_another_body_is_a_conflict(
    http: httpx.AsyncClient, graph: Graph, secret: str, fam: CaseFamily
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 111, f"ref-{uuid.uuid4()}")
    await post(http, body, signed(secret, webhook_id, body))
    before = await payments(graph, fam.case.id)
    other = payment_body(fam.case.id, 222, f"ref-{uuid.uuid4()}")
    response = await post(http, other, signed(secret, webhook_id, other))
    assert response.status_code == 409 and response.json()["error"]["code"] == "WEBHOOK_ID_REUSED"
    assert await payments(graph, fam.case.id) == before


async def test_no_bearer_token_is_needed_and_get_is_not_allowed(http: httpx.AsyncClient) -> None:
    assert (await http.get("/webhooks/payments")).status_code == 405


def test_verify_accepts_any_of_several_signatures(secret: str) -> None:
    body = b'{"a": 1}'
    headers = signed(secret, "msg_1", body)
    rotated = signed(new_secret(), "msg_1", body)["webhook-signature"]
    headers["webhook-signature"] = f"{rotated} {headers['webhook-signature']}"
    assert verify(secret, headers, body) == "msg_1"


async def test_deliveries_are_rate_limited_per_sender(settings: Settings, graph: Graph, fam: CaseFamily) -> None:
    connector = f"rl_{uuid.uuid4().hex[:8]}"
    with webhook_secret(connector) as secret:
        with serve(settings.model_copy(update={"rate_limit_per_minute": 2})) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                responses = []
                for _ in range(5):  # five: a 429 comes even if a minute boundary falls between them
                    body = payment_body(fam.case.id, 50, f"ref-{uuid.uuid4()}")
                    responses.append(await post(http, body, signed(secret, f"msg_{uuid.uuid4().hex}", body), connector))
        statuses = [r.status_code for r in responses]
        assert statuses[:2] == [200, 200] and 429 in statuses[2:], statuses
        limited = next(r for r in responses if r.status_code == 429)
        assert limited.json()["error"]["code"] == "RATE_LIMITED" and limited.headers["retry-after"]
