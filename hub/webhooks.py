"""`POST /webhooks/{connector}`: events pushed by connectors, per Standard Webhooks.

https://www.standardwebhooks.com/ (spec: github.com/standard-webhooks/standard-webhooks/blob/main/spec/
standard-webhooks.md). The signature is the authentication, so no bearer token: `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` under the connector's secret,
`HUB_WEBHOOK_SECRET_<CONNECTOR>` (`whsec_<base64>`, from the environment only). A timestamp more than
five minutes from now is refused (replay of an old capture), and the webhook id is the idempotency key.

The delivery and its effect commit in one graph transaction before the 2xx (`graph.webhooks`): a
duplicate is acknowledged (200) and applies nothing; a refusal (4xx) changes nothing; a crash before the
commit leaves nothing, so the sender's retry applies the event once. Live subscribers hear of it after
the commit (`hub.events`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from datetime import datetime
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graph import maintenance
from graph.errors import GraphBusy, GraphUnavailable, InvalidValue, NotFound
from graph.webhooks import MAX_WEBHOOK_ID, Delivery, receive_payment
from hub import metrics
from hub.errors import Refusal
from hub.identities import is_identity_event, receive_identity
from schema.events import Event, EventKind

log = logging.getLogger(__name__)

SECRET_ENV = "HUB_WEBHOOK_SECRET_"
CONNECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
WEBHOOK_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it is signed as `id.timestamp.body`
TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 64 * 1024
PAYMENT_RECEIVED = "payment.received"
MAX_REFERENCE = 150


def secret_for(connector: str) -> str | None:
    """The connector's signing secret, read from the environment on each delivery (rotation needs no restart)."""
    if not CONNECTOR_NAME.match(connector):
        return None
    return os.environ.get(SECRET_ENV + connector.upper()) or None


async def _body(request: Request) -> bytes:
    too_large = Refusal(f"webhook body over {MAX_BODY_BYTES} bytes", "REQUEST_TOO_LARGE", 413)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> str:
    """Check the Standard Webhooks headers and signature; the webhook id, or a coded `Refusal`."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and signature):
        raise Refusal(
            "webhook-id, webhook-timestamp and webhook-signature are required", "WEBHOOK_HEADERS_MISSING", 400
        )
    if len(webhook_id) > MAX_WEBHOOK_ID or not WEBHOOK_ID.match(webhook_id):
        raise Refusal(f"webhook-id must be 1 to {MAX_WEBHOOK_ID} printable characters", "WEBHOOK_ID_INVALID", 400)
    if not timestamp.isdigit():
        raise Refusal("webhook-timestamp must be whole seconds since the epoch", "WEBHOOK_TIMESTAMP_INVALID", 400)
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        raise Refusal("webhook-timestamp is outside the 5 minute tolerance", "WEBHOOK_TIMESTAMP_STALE", 400)
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError, TypeError) as exc:  # binascii and decode errors are ValueErrors
        log.info("webhook signature refused: %s", type(exc).__name__)
        raise Refusal("the webhook signature does not verify", "WEBHOOK_SIGNATURE_INVALID", 401) from None
    return webhook_id


class BodyRefusal(Refusal):
    """A body the hub cannot apply, naming the field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, "WEBHOOK_BODY_INVALID", 422)
        self.field = field


def _invalid(message: str, field: str | None = None) -> Refusal:
    return BodyRefusal(message, field)


def parse_payment(body: bytes) -> dict[str, Any]:
    """`{"type": "payment.received", "data": {caseId, amountPencePaid, paidAt, reference}}` (Standard Webhooks'
    payload convention), checked field by field."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise _invalid("the body must be an object with `type` and `data`")
    if payload.get("type") != PAYMENT_RECEIVED:
        raise Refusal(f"unsupported event type {str(payload.get('type'))[:40]!r}", "WEBHOOK_EVENT_UNSUPPORTED", 422)
    data = payload["data"]
    try:
        case_id = str(uuid.UUID(str(data.get("caseId"))))
    except ValueError:
        raise _invalid("data.caseId must be a case id (a UUID)", "caseId") from None
    amount = data.get("amountPencePaid")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise _invalid("data.amountPencePaid must be a positive whole number of pence", "amountPencePaid")
    try:
        paid_at = datetime.fromisoformat(str(data.get("paidAt")))
    except ValueError:
        raise _invalid("data.paidAt must be an ISO 8601 date-time", "paidAt") from None
    if paid_at.tzinfo is None:
        raise _invalid("data.paidAt must carry a time zone", "paidAt")
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference.strip() or len(reference) > MAX_REFERENCE:
        raise _invalid(f"data.reference must be 1 to {MAX_REFERENCE} characters", "reference")
    return {"case_id": case_id, "amount": amount, "paid_at": paid_at, "reference": reference.strip()}


def _refused(refusal: Refusal) -> Response:
    metrics.REFUSALS.labels(refusal.code).inc()
    body: dict[str, Any] = {"message": refusal.message, "code": refusal.code}
    if isinstance(refusal, BodyRefusal) and refusal.field:
        body["field"] = refusal.field
    return JSONResponse({"error": body}, refusal.status, headers=refusal.headers)


async def receive(request: Request) -> Response:
    """Verify, de-duplicate and apply one delivery; 200 once it is committed (or was already)."""
    try:
        return await _receive(request)
    except Refusal as refusal:
        return _refused(refusal)


async def _receive(request: Request) -> Response:
    resources = request.app.state.resources
    connector = request.path_params["connector"]
    secret = secret_for(connector)
    if secret is None:
        raise Refusal("no such webhook connector", "UNKNOWN_CONNECTOR", 404)
    # Limited per sender address before the signature is checked: a flood without the secret costs
    # little and cannot use up the real sender's allowance.
    client = request.client.host if request.client else "unknown"
    await resources.limiter.check(f"webhook:{connector}:{client}")
    body = await _body(request)
    webhook_id = verify(secret, {k.lower(): v for k, v in request.headers.items()}, body)
    if is_identity_event(body):  # issue 12: a record with personal attributes, matched to a person
        return await receive_identity(resources, connector, webhook_id, body)
    fields = parse_payment(body)
    delivery = Delivery(connector, webhook_id, hashlib.sha256(body).hexdigest())
    try:
        outcome = await receive_payment(
            resources.graph,
            delivery,
            fields["case_id"],
            fields["amount"],
            fields["paid_at"],
            # The sender's own payment reference: a payment re-sent under a new webhook id is still one payment.
            receipt_key=f"{connector}:{fields['reference']}",
        )
    except NotFound:
        raise Refusal("no maintenance case has that caseId", "UNKNOWN_CASE", 422) from None
    except InvalidValue as exc:
        if exc.field == "receiptKey":
            raise Refusal("that reference was recorded for a different payment", "PAYMENT_CONFLICT", 409) from None
        raise _invalid(str(exc), exc.field) from None
    except (GraphUnavailable, GraphBusy) as exc:
        raise Refusal(str(exc), exc.code, 503, {"Retry-After": "5"}) from None
    if outcome.duplicate:
        if not outcome.same_body:
            raise Refusal("this webhook-id was received before with a different body", "WEBHOOK_ID_REUSED", 409)
        return JSONResponse({"status": "duplicate", "webhookId": webhook_id})
    receipt = outcome.receipt
    assert receipt is not None
    if not receipt.applied:
        return JSONResponse({"status": "duplicate", "webhookId": webhook_id, "paymentId": receipt.payment.id})
    await _announce(resources, fields["case_id"], receipt.payment)
    return JSONResponse({"status": "applied", "webhookId": webhook_id, "paymentId": receipt.payment.id})


async def _announce(resources: Any, case_id: str, payment: Any) -> None:
    """After the commit: tell live subscribers. A failure here loses no data (the graph has it), only liveness."""
    events = getattr(resources, "events", None)
    if events is None:
        return
    try:
        case = await maintenance.get_case(resources.graph, case_id)
        await events.publish(
            Event(
                EventKind.PAYMENT_RECEIVED,
                (case.paying_parent_id, case.receiving_parent_id),
                case.id,
                {"amountPence": payment.amount_pence, "paymentId": payment.id},
            )
        )
    except Exception as exc:  # noqa: BLE001 - any failure of the cache or graph read: logged, 200 stands
        log.warning("payment event not published (%s)", type(exc).__name__)
