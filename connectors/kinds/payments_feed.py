"""`payments_feed`: an open-banking-style transactions API, read for the child-maintenance payments it shows.

Upstream contract (UK Open Banking Account and Transaction API v3.1 in shape; the sandbox in
`connectors.sandbox.payments` implements it):

* `POST {token_url}` — OAuth2 client-credentials grant → bearer token (cached, refreshed once on a 401);
* `GET /open-banking/v3.1/aisp/accounts/{AccountId}/transactions?fromBookingDateTime=…&limit=N` →
  `{"Data": {"Transaction": [...]}, "Links": {"Self", "Next"?}, "Meta": {"TotalPages"}}`, 404 for an
  account it does not hold; further pages by following `Links.Next` (a cursor or page link, as the bank
  chooses — only ever to the same origin, so the bearer token cannot be sent elsewhere);
* 429 with `Retry-After` when the bank's rate limit is hit: waited out and the same page asked again.

A transaction is `{TransactionId, BookingDateTime, CreditDebitIndicator, Status, Amount: {Amount: "12.34",
Currency}, TransactionReference?, CreditorAccount?: {Name}}`. Amounts are decimal strings turned into
integer pence exactly (more than two decimal places is a wrong answer, never rounded).

Data minimisation: only *booked debits to the maintenance service* (by creditor name or reference prefix)
are kept — the hub has no business with the rest of a parent's spending, so it never leaves this module.
A reference `CMS-<case id>` attaches a payment to its child-maintenance case.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError
from yarl import URL

from connectors.auth import OAuth2ClientCredentials, authorised_json
from connectors.contract import Connector, ConnectorConfig, EnvSecret, MatchKey, Outcome
from connectors.errors import BadResponse, UpstreamUnavailable
from connectors.http import JsonResponse

__all__ = ["MaintenancePaymentMade", "PaymentsFeed", "PaymentsFeedConnector", "PaymentsFeedSettings", "to_pence"]

_ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # Open Banking AccountId: 1-40 characters
_PENCE = Decimal("0.01")
_AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,5})?$")  # the Open Banking Amount pattern


class PaymentsFeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: AnyHttpUrl = Field(description="API root, e.g. https://bank.example/api")
    token_url: AnyHttpUrl | None = Field(None, description="OAuth2 token endpoint; default {base_url}/oauth2/token")
    client_id: EnvSecret
    client_secret: EnvSecret
    scope: str | None = "accounts"
    lookback_days: int = Field(90, ge=1, le=730, description="how far back transactions are read")
    page_size: int = Field(50, ge=1, le=500)
    max_pages: int = Field(20, ge=1, le=200, description="pages read per account at most; beyond: truncated")
    payee_names: list[str] = Field(
        default_factory=lambda: ["Child Maintenance Service"], description="creditors that are maintenance"
    )
    reference_prefix: str = Field("CMS-", min_length=1, description="references that are maintenance payments")


class MaintenancePaymentMade(BaseModel):
    """One booked payment from the parent's account to the maintenance service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: str
    paid_at: datetime
    amount_pence: int = Field(gt=0)
    reference: str | None = None
    case_id: str | None = Field(None, description="the child-maintenance case the reference names")


class PaymentsFeed(BaseModel):
    """What the hub learns from a paying parent's bank: their maintenance payments over the lookback window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str
    since: datetime
    payments: list[MaintenancePaymentMade]
    paid_pence_total: int = Field(ge=0)
    last_paid_at: datetime | None = None
    pages_read: int = Field(ge=1)
    truncated: bool = False


class _Amount(BaseModel):
    Amount: str
    Currency: str


class _Party(BaseModel):
    Name: str | None = None


class _Transaction(BaseModel):
    """The API's transaction document, validated before anything is taken from it (unknown keys ignored)."""

    TransactionId: str
    BookingDateTime: datetime
    CreditDebitIndicator: str
    Status: str
    Amount: _Amount
    TransactionReference: str | None = None
    CreditorAccount: _Party | None = None


def to_pence(amount: str) -> int:
    """``"12.34"`` → 1234, exactly; ValueError for anything that is not a non-negative amount with ≤ 2 decimals."""
    if not isinstance(amount, str) or not _AMOUNT.match(amount):
        raise ValueError(f"not an amount: {amount!r}")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if value != value.quantize(_PENCE):
        raise ValueError(f"not an amount in pounds and pence: {amount!r}")
    return int(value * 100)


class PaymentsFeedConnector(Connector):
    kind: ClassVar[str] = "payments_feed"
    summary: ClassVar[str] = "Open-banking transactions feed: child-maintenance payments from a parent's account"
    settings_model: ClassVar[type[BaseModel]] = PaymentsFeedSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = (MatchKey.EXTERNAL_ID,)
    fields = PaymentsFeed

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        super().__init__(config, session=session)
        self.settings: PaymentsFeedSettings = config.settings
        self.base_url = str(self.settings.base_url).rstrip("/")
        self._origin = URL(self.base_url).origin()
        token_url = str(self.settings.token_url) if self.settings.token_url else f"{self.base_url}/oauth2/token"
        self.auth = OAuth2ClientCredentials(
            session,
            token_url,
            self.settings.client_id.get(),
            self.settings.client_secret.get(),
            scope=self.settings.scope,
        )
        self._payees = {name.casefold() for name in self.settings.payee_names}

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        # No batch endpoint: one account per call (max_batch_size 1), so keys is one key.
        return {key: await self._account(key) if _ACCOUNT.match(key) else None for key in keys}

    async def _account(self, account: str) -> Outcome:
        since = (datetime.now(UTC) - timedelta(days=self.settings.lookback_days)).replace(microsecond=0)
        url: URL | None = URL(
            f"{self.base_url}/open-banking/v3.1/aisp/accounts/{quote(account, safe='')}/transactions"
        ).with_query(
            {"fromBookingDateTime": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": str(self.settings.page_size)}
        )
        payments: dict[str, MaintenancePaymentMade] = {}
        pages = 0
        while url is not None and pages < self.settings.max_pages:
            response = await self._page_request(url)
            if not response.found:
                return None  # the bank holds no such account (or no longer lets us see it)
            pages += 1
            transactions, url = self._page(response.body)
            for document in transactions:
                payment = self._payment(document)
                if payment is not None:
                    payments[payment.transaction_id] = payment  # a transaction repeated across pages counts once
        ordered = sorted(payments.values(), key=lambda p: (p.paid_at, p.transaction_id))
        return PaymentsFeed(
            account_id=account,
            since=since,
            payments=ordered,
            paid_pence_total=sum(p.amount_pence for p in ordered),
            last_paid_at=ordered[-1].paid_at if ordered else None,
            pages_read=pages,
            truncated=url is not None,
        )

    async def _page_request(self, url: URL) -> JsonResponse:
        """One page. A 429 mid-way is waited out (its Retry-After, within the policy) and the *same* page asked
        again: restarting the whole read on every 429, as a retry of the call would, could never finish an
        account with more pages than the bank allows per period. The attempt's timeout still bounds it all."""
        retry = self.config.retry
        for attempt in range(1, retry.attempts + 1):
            try:
                return await authorised_json(self.session, self.auth, url, what="transactions page")
            except UpstreamUnavailable as exc:
                wait = exc.retry_after
                if exc.status != 429 or wait is None or wait > retry.max_retry_after or attempt == retry.attempts:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _page(self, body: Any) -> tuple[list[Any], URL | None]:
        data = body.get("Data") if isinstance(body, dict) else None
        transactions = data.get("Transaction") if isinstance(data, dict) else None
        if not isinstance(transactions, list):
            raise BadResponse("transactions page: the response has no Data.Transaction list")
        links = body.get("Links") or {}
        following = links.get("Next") if isinstance(links, dict) else None
        if following is None:
            return transactions, None
        if not isinstance(following, str):
            raise BadResponse("transactions page: Links.Next is not a link")
        target = URL(following)
        if not target.is_absolute():
            target = self._origin.join(target)
        if target.origin() != self._origin:
            # Never send the bearer token to another host because an answer said so.
            raise BadResponse("transactions page: Links.Next points to another origin")
        return transactions, target

    def _payment(self, document: Any) -> MaintenancePaymentMade | None:
        try:
            tx = _Transaction.model_validate(document)
        except ValidationError:
            raise BadResponse("a transaction in the response does not match the API's schema") from None
        if tx.CreditDebitIndicator != "Debit" or tx.Status != "Booked":
            return None
        creditor = (tx.CreditorAccount.Name or "") if tx.CreditorAccount else ""
        reference = tx.TransactionReference
        prefix = self.settings.reference_prefix
        by_reference = reference is not None and reference.startswith(prefix)
        if not (by_reference or creditor.casefold() in self._payees):
            return None
        if tx.Amount.Currency != "GBP":
            raise BadResponse("a maintenance payment in the response is not in GBP")
        try:
            pence = to_pence(tx.Amount.Amount)
        except ValueError:
            raise BadResponse("a transaction amount in the response is not pounds and pence") from None
        if pence == 0:
            return None
        case_id = None
        if by_reference and reference is not None:
            try:
                case_id = str(uuid.UUID(reference[len(prefix) :]))
            except ValueError:
                case_id = None
        booked = tx.BookingDateTime if tx.BookingDateTime.tzinfo else tx.BookingDateTime.replace(tzinfo=UTC)
        return MaintenancePaymentMade(
            transaction_id=tx.TransactionId, paid_at=booked, amount_pence=pence, reference=reference, case_id=case_id
        )
