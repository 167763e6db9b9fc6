"""A sandbox bank: an open-banking-style transactions API that can also push "payment received" webhooks.

* `POST /oauth2/token` — client credentials (`connectors.sandbox.base`);
* `GET /open-banking/v3.1/aisp/accounts/{id}/transactions?fromBookingDateTime=…&limit=N` — newest first,
  paginated by an opaque `cursor` (or `page=N` with `page_style="page"`) through `Links.Next`; accounts whose
  id starts with `missing` do not exist (404). Each account's history is fake but deterministic: salary,
  rent, shopping, and a monthly payment to the Child Maintenance Service (`CMS-<case id>` when a mandate
  ties the account to a case, see `mandate`);
* rate limits (429 + `Retry-After`), base latency, random errors and every fault of the base;
* **push**: `pay(account, pence)` books a maintenance payment on the account *and* delivers a
  `payment.received` webhook to the hub's `POST /webhooks/<connector>`, signed per Standard Webhooks with
  the `standardwebhooks` library (what `hub.webhooks` verifies). Delivery is at least once: a failed or
  unacknowledged delivery is retried with the *same* webhook id, and `redeliver` re-sends a delivery as a
  sender does when an acknowledgement was lost. Also over HTTP: `POST /_sandbox/mandates`,
  `POST /_sandbox/pay`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from standardwebhooks.webhooks import Webhook
from yarl import URL

from connectors.sandbox.base import (
    SandboxServer,
    UpstreamState,
    apply_fault,
    authorised,
    control_routes,
    problem,
    rate_limited,
    release_on_shutdown,
    token_handler,
    unauthorised,
)

__all__ = ["PAYMENTS", "Delivery", "PaymentsSandbox", "PaymentsState", "create_app", "transactions_for"]

PAYEE = "Child Maintenance Service"
MAX_LIMIT = 500
HISTORY_DAYS = 180
TRANSACTIONS_PATH = "/open-banking/v3.1/aisp/accounts/{account}/transactions"
_SHOPS = ("Tesco Stores", "Sainsbury's", "Aldi", "Shell Garage", "Boots", "Greggs", "Amazon UK", "TfL Travel")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook as the sandbox sent it: its id, body and the hub's answers (one per attempt)."""

    webhook_id: str
    body: bytes
    statuses: tuple[int, ...]


@dataclass
class PaymentsState(UpstreamState):
    page_style: Literal["cursor", "page"] = "cursor"
    next_origin: str | None = None  # a hostile bank: Links.Next on another origin (the connector must refuse)
    mandates: dict[str, tuple[str, int]] = field(default_factory=dict)  # account -> (case id, monthly pence)
    booked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # account -> pushed payments
    hub_url: str | None = None  # where `pay` delivers webhooks: http://host:port/webhooks/<connector>
    webhook_secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def api_calls(self) -> int:
        return self.calls["transactions"]

    def reset(self) -> None:
        super().reset()
        self.deliveries.clear()


PAYMENTS = web.AppKey("payments_state", PaymentsState)


def _rng(account: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big"))


def _transaction(
    account: str, tx_id: str, at: datetime, pence: int, debit: bool, party: str, ref: str
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "AccountId": account,
        "TransactionId": tx_id,
        "TransactionReference": ref,
        "CreditDebitIndicator": "Debit" if debit else "Credit",
        "Status": "Booked",
        "BookingDateTime": at.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "Amount": {"Amount": f"{pence // 100}.{pence % 100:02d}", "Currency": "GBP"},
    }
    document["CreditorAccount" if debit else "DebtorAccount"] = {"Name": party}
    return document


def transactions_for(account: str, state: PaymentsState, today: datetime | None = None) -> list[dict[str, Any]] | None:
    """The account's history, newest first (None: no such account). Deterministic for a given day."""
    if account.startswith("missing"):
        return None
    rng = _rng(account)
    day0 = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    case_id, monthly = state.mandates.get(account, (None, 0))
    monthly = monthly or rng.randrange(5_000, 40_000, 100)
    pay_day = rng.randint(1, 28)
    out: list[dict[str, Any]] = []
    for back in range(HISTORY_DAYS):
        day = day0 - timedelta(days=back)
        stamp = day + timedelta(hours=9, minutes=rng.randint(0, 59))
        n = f"{account}-{day:%Y%m%d}"
        if day.day == pay_day:
            reference = f"CMS-{case_id}" if case_id else f"CMS-{rng.randint(10_000_000, 99_999_999)}"
            out.append(_transaction(account, f"{n}-cms", stamp, monthly, True, PAYEE, reference))
        if day.day == 25:
            out.append(
                _transaction(account, f"{n}-sal", stamp, rng.randint(150_000, 400_000), False, "Employer Ltd", "SALARY")
            )
        if day.day == 1:
            out.append(
                _transaction(account, f"{n}-rent", stamp, rng.randint(60_000, 140_000), True, "Landlord", "RENT")
            )
        for k in range(rng.choice((0, 0, 1, 1, 2))):
            shop = rng.choice(_SHOPS)
            out.append(
                _transaction(
                    account,
                    f"{n}-{k}",
                    stamp + timedelta(hours=k + 1),
                    rng.randint(150, 9_000),
                    True,
                    shop,
                    "CARD PAYMENT",
                )
            )
    out.extend(state.booked.get(account, []))
    out.sort(key=lambda t: (t["BookingDateTime"], t["TransactionId"]), reverse=True)
    return out


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode().rstrip("=")


def _offset(cursor: str) -> int | None:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["o"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value >= 0 else None


async def transactions(request: web.Request) -> web.StreamResponse:
    state = request.app[PAYMENTS]
    state.calls["transactions"] += 1
    state.entered()
    try:
        faulty = await apply_fault(state.take_fault("api"), state, {"Data": {"Transaction": [{"TransactionId": 7}]}})
        if faulty is not None:
            return faulty
        if not authorised(request, state):
            return unauthorised()
        if state.over_rate_limit():
            return rate_limited()
        await state.base_latency()
        account = request.match_info["account"]
        history = transactions_for(account, state)
        if history is None:
            return problem(404, "Account not found")
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
            since = datetime.fromisoformat(query["fromBookingDateTime"]) if "fromBookingDateTime" in query else None
        except ValueError:
            return problem(400, "limit must be a number and fromBookingDateTime an ISO date-time")
        if not 1 <= limit <= MAX_LIMIT:
            return problem(400, f"limit must be 1 to {MAX_LIMIT}")
        if since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
            history = [t for t in history if datetime.fromisoformat(t["BookingDateTime"]) >= since]
        if state.page_style == "page":
            page = int(query.get("page", "1")) if query.get("page", "1").isdigit() else 0
            if page < 1:
                return problem(400, "page must be a positive number")
            offset = (page - 1) * limit
        else:
            offset = _offset(query["cursor"]) if "cursor" in query else 0
            if offset is None:
                return problem(400, "cursor is not one this API issued")
        chunk = history[offset : offset + limit]
        links: dict[str, str] = {"Self": str(request.url)}
        if offset + limit < len(history):
            following = (
                {"page": str(offset // limit + 2)}
                if state.page_style == "page"
                else {"cursor": _cursor(offset + limit)}
            )
            link = request.url.update_query(following)
            if state.next_origin is not None:
                link = URL(state.next_origin).join(link.relative())
            links["Next"] = str(link)
        pages = max(1, -(-len(history) // limit))
        return web.json_response({"Data": {"Transaction": chunk}, "Links": links, "Meta": {"TotalPages": pages}})
    finally:
        state.left()


# -- push ------------------------------------------------------------------------------------------------


def mandate(state: PaymentsState, account: str, case_id: str, monthly_pence: int = 0) -> None:
    """Tie an account to a child-maintenance case: its maintenance payments then reference the case."""
    state.mandates[account] = (str(uuid.UUID(case_id)), monthly_pence)


def book(state: PaymentsState, account: str, pence: int, at: datetime | None = None) -> dict[str, Any]:
    """Book a maintenance payment on an account with a mandate; the transaction document."""
    case_id, _ = state.mandates[account]
    at = at or datetime.now(UTC)
    tx_id = f"{account}-push-{uuid.uuid4().hex[:12]}"
    document = _transaction(account, tx_id, at, pence, True, PAYEE, f"CMS-{case_id}")
    state.booked.setdefault(account, []).append(document)
    return document


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    body: bytes,
    *,
    webhook_id: str | None = None,
    attempts: int = 3,
    backoff: float = 0.2,
) -> Delivery:
    """Send one signed webhook, retrying with the same id until a 2xx (at-least-once delivery)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    statuses: list[int] = []
    for attempt in range(attempts):
        now = datetime.now(UTC)
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(webhook_id, now, body.decode()),
            "content-type": "application/json",
        }
        try:
            async with session.post(url, data=body, headers=headers) as response:
                statuses.append(response.status)
                if 200 <= response.status < 300 or 400 <= response.status < 500 and response.status != 429:
                    break  # delivered, or refused for good (a 4xx other than 429 will not change on retry)
        except (aiohttp.ClientError, OSError):
            statuses.append(0)
        if attempt + 1 < attempts:
            await asyncio.sleep(backoff * 2**attempt)
    return Delivery(webhook_id, body, tuple(statuses))


def payment_event(case_id: str, pence: int, paid_at: datetime, reference: str) -> bytes:
    data = {"caseId": case_id, "amountPencePaid": pence, "paidAt": paid_at.isoformat(), "reference": reference}
    return orjson.dumps({"type": "payment.received", "timestamp": datetime.now(UTC).isoformat(), "data": data})


async def pay(state: PaymentsState, session: aiohttp.ClientSession, account: str, pence: int) -> Delivery | None:
    """Book a payment and push it to the hub (when `hub_url` and `webhook_secret` are set)."""
    document = book(state, account, pence)
    if state.hub_url is None or state.webhook_secret is None:
        return None
    case_id, _ = state.mandates[account]
    # The bank's transaction id is the sender's payment reference: the hub's idempotency key for the payment.
    body = payment_event(case_id, pence, datetime.fromisoformat(document["BookingDateTime"]), document["TransactionId"])
    delivery = await deliver(session, state.hub_url, state.webhook_secret, body)
    state.deliveries.append(delivery)
    return delivery


async def redeliver(state: PaymentsState, session: aiohttp.ClientSession, delivery: Delivery) -> Delivery:
    """Send a delivery again under its id, as a sender does when the acknowledgement was lost."""
    assert state.hub_url is not None and state.webhook_secret is not None
    again = await deliver(session, state.hub_url, state.webhook_secret, delivery.body, webhook_id=delivery.webhook_id)
    state.deliveries.append(again)
    return again


class _Mandate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    caseId: uuid.UUID  # noqa: N815 - the wire name
    monthlyPence: int = Field(0, ge=0)  # noqa: N815


class _Pay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str
    amountPence: int = Field(gt=0)  # noqa: N815


async def post_mandate(request: web.Request) -> web.StreamResponse:
    try:
        m = _Mandate.model_validate_json(await request.read())
    except ValidationError as exc:
        return problem(400, "invalid mandate", errors=[e["msg"] for e in exc.errors()])
    mandate(request.app[PAYMENTS], m.account, str(m.caseId), m.monthlyPence)
    return web.Response(status=204)


async def post_pay(request: web.Request) -> web.StreamResponse:
    state = request.app[PAYMENTS]
    try:
        p = _Pay.model_validate_json(await request.read())
    except ValidationError as exc:
        return problem(400, "invalid payment", errors=[e["msg"] for e in exc.errors()])
    if p.account not in state.mandates:
        return problem(404, "no mandate for that account")
    async with aiohttp.ClientSession() as session:
        delivery = await pay(state, session, p.account, p.amountPence)
    return web.json_response(
        {
            "delivered": delivery is not None,
            "webhookId": delivery.webhook_id if delivery else None,
            "statuses": list(delivery.statuses) if delivery else [],
        }
    )


def create_app(state: PaymentsState | None = None) -> web.Application:
    app = web.Application()
    app[PAYMENTS] = state if state is not None else PaymentsState()
    release_on_shutdown(app, PAYMENTS)
    app.add_routes(
        [
            web.post("/oauth2/token", token_handler(PAYMENTS)),
            web.get(TRANSACTIONS_PATH, transactions),
            web.post("/_sandbox/mandates", post_mandate),
            web.post("/_sandbox/pay", post_pay),
            *control_routes(PAYMENTS, lambda s: {"mandates": len(s.mandates), "deliveries": len(s.deliveries)}),
        ]
    )
    return app


class PaymentsSandbox(SandboxServer):
    state: PaymentsState

    def __init__(self, state: PaymentsState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app, state if state is not None else PaymentsState(), host=host, port=port)
