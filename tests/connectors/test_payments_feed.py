"""The payments-feed kind against the sandbox bank: OAuth2, pagination (cursor and page), rate limits with
Retry-After, every fault mode, data minimisation and exact pence. Calls are counted at the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.errors import ErrorCode
from connectors.kinds.payments_feed import PaymentsFeed, PaymentsFeedConnector, to_pence
from connectors.sandbox.base import Fault
from connectors.sandbox.payments import PAYEE, PaymentsSandbox, PaymentsState, mandate, transactions_for
from connectors.testing import get_connector_test_class, merge

PAYMENTS_ENV = {"PAYMENTS_CLIENT_ID": "bank-client", "PAYMENTS_CLIENT_SECRET": "bank-secret-0123"}
FAST = {
    "timeout": {"attempt": 1.0, "total": 3.0},
    "retry": {"attempts": 3, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 2.0},
    "breaker": {"failure_threshold": 50, "reset_timeout": 0.3},
}


@pytest.fixture
async def bank() -> AsyncIterator[PaymentsSandbox]:
    state = PaymentsState(
        client_id=PAYMENTS_ENV["PAYMENTS_CLIENT_ID"], client_secret=PAYMENTS_ENV["PAYMENTS_CLIENT_SECRET"]
    )
    async with PaymentsSandbox(state) as running:
        yield running


@pytest.fixture
def payments_env() -> dict[str, str]:
    return dict(PAYMENTS_ENV)


@pytest.fixture
def payments_config(bank: PaymentsSandbox) -> dict[str, Any]:
    return merge(
        {
            "name": "bank_payments",
            "kind": "payments_feed",
            "description": "Maintenance payments from a paying parent's bank account (sandbox)",
            "owner": "data-stewards@example.gov.uk",
            "lawful_basis": "consent",
            "purpose": "child-maintenance",
            "consent_required": True,
            "settings": {
                "base_url": bank.url,
                "client_id": "PAYMENTS_CLIENT_ID",
                "client_secret": "PAYMENTS_CLIENT_SECRET",
                "page_size": 10,
            },
        },
        FAST,
    )


def _dead(document: dict[str, Any]) -> dict[str, Any]:
    return merge(document, {"settings": {"base_url": "http://127.0.0.1:9"}})


TestPaymentsFeedContract = get_connector_test_class(
    PaymentsFeedConnector,
    config="payments_config",
    environ="payments_env",
    sample_keys=["acc-1", "acc_2"],
    missing_keys=["missing-acc"],
    dead_config=_dead,
)


def source_for(make_source: Any, document: dict[str, Any], **overrides: Any) -> Any:
    return make_source(kind=PaymentsFeedConnector, document=document, environ=PAYMENTS_ENV, store=False, **overrides)


def expected(account: str, state: PaymentsState, days: int = 90) -> list[dict[str, Any]]:
    """What the sandbox holds that the connector should keep: maintenance debits in the window."""
    from datetime import UTC, datetime, timedelta

    since = datetime.now(UTC) - timedelta(days=days)
    history = transactions_for(account, state) or []
    return [
        t
        for t in history
        if t["CreditDebitIndicator"] == "Debit"
        and t.get("CreditorAccount", {}).get("Name") == PAYEE
        and datetime.fromisoformat(t["BookingDateTime"]) >= since
    ]


async def test_reads_every_page_and_keeps_only_maintenance_payments_in_pence(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    case_id = str(uuid.uuid4())
    mandate(bank.state, "acc-7", case_id, 12_345)
    result = await source_for(make_source, payments_config).fetch_one("acc-7")
    assert result.ok, result.error
    feed: PaymentsFeed = result.value
    want = expected("acc-7", bank.state)
    assert want and [p.transaction_id for p in feed.payments] == sorted(t["TransactionId"] for t in want)
    assert all(p.amount_pence == 12_345 and p.case_id == case_id for p in feed.payments)
    assert feed.paid_pence_total == 12_345 * len(want) and feed.last_paid_at == feed.payments[-1].paid_at
    # 90 days of history at 10 per page: many pages, all read, one token.
    assert feed.pages_read == bank.state.calls["transactions"] > 3 and not feed.truncated
    assert bank.state.calls["token"] == 1
    # Nothing else of the parent's spending is kept.
    assert "Tesco" not in feed.model_dump_json() and "SALARY" not in feed.model_dump_json()


async def test_page_links_read_the_same_as_cursors(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    by_cursor = (await source_for(make_source, payments_config).fetch_one("acc-3")).value
    bank.state.page_style = "page"
    by_page = (await source_for(make_source, payments_config).fetch_one("acc-3")).value
    assert by_cursor is not None and by_page is not None
    assert by_cursor.payments == by_page.payments and by_cursor.pages_read == by_page.pages_read


async def test_max_pages_marks_the_feed_truncated(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    document = merge(payments_config, {"settings": {"max_pages": 2}})
    feed = (await source_for(make_source, document).fetch_one("acc-3")).value
    assert feed is not None and feed.truncated and feed.pages_read == 2
    assert bank.state.calls["transactions"] == 2


async def test_a_rate_limit_mid_pagination_waits_for_retry_after_and_succeeds(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    bank.state.inject(Fault(mode="rate_limit_429", retry_after=1, times=1))
    source = source_for(make_source, payments_config)
    result = await source.fetch_one("acc-5")
    assert result.ok and result.value is not None
    assert bank.state.calls["transactions"] == result.value.pages_read + 1, "the refused page was asked again"
    assert source.snapshot().latency_ms["max"] >= 1.0 * 1000
    # A Retry-After beyond what the policy accepts ends the fetch with a typed error instead of waiting.
    bank.state.inject(Fault(mode="rate_limit_429", retry_after=30, times=1))
    refused = await source_for(make_source, payments_config).fetch_one("acc-6")
    assert refused.error is not None and refused.error.code is ErrorCode.CONNECTOR_UNAVAILABLE
    assert "429" in refused.error.message


async def test_a_real_rate_limit_is_honoured(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    bank.state.rate_limit = 3  # requests per second: the feed's pages must wait, and resume where they were
    document = merge(payments_config, {"timeout": {"attempt": 8.0, "total": 8.0}, "retry": {"attempts": 3}})
    result = await source_for(make_source, document).fetch_one("acc-8")
    assert result.ok, result.error
    pages = result.value.pages_read if result.value is not None else 0
    assert pages > 3 and not result.value.truncated
    assert pages < bank.state.calls["transactions"] < 2 * pages, "refused pages are asked again, not the whole feed"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(mode="error_500"), ErrorCode.CONNECTOR_UNAVAILABLE),
        (Fault(mode="garbage_json"), ErrorCode.CONNECTOR_BAD_RESPONSE),
        (Fault(mode="wrong_schema"), ErrorCode.CONNECTOR_BAD_RESPONSE),
        (Fault(mode="auth_failure", target="token"), ErrorCode.CONNECTOR_AUTH_FAILED),
        (Fault(mode="hang"), ErrorCode.CONNECTOR_TIMEOUT),
    ],
    ids=lambda v: v.mode if isinstance(v, Fault) else "",
)
async def test_every_fault_is_a_typed_error(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox, fault: Fault, code: ErrorCode
) -> None:
    bank.state.inject(fault)
    document = merge(payments_config, {"timeout": {"attempt": 0.3, "total": 0.8}, "retry": {"attempts": 1}})
    result = await source_for(make_source, document).fetch_one("acc-9")
    assert result.value is None and result.error is not None and result.error.code is code


async def test_a_revoked_token_is_refreshed_once(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    source = source_for(make_source, payments_config)
    assert (await source.fetch_one("acc-1")).ok
    bank.state.revoke_tokens()
    assert (await source.fetch_one("acc-2")).ok
    assert bank.state.calls["token"] == 2


async def test_a_next_link_to_another_origin_is_refused(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    bank.state.next_origin = "http://attacker.example:8080"
    result = await source_for(make_source, payments_config, retry={"attempts": 1}).fetch_one("acc-1")
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE
    assert "another origin" in result.error.message
    assert bank.state.calls["transactions"] == 1


async def test_an_unknown_account_is_no_record_and_a_bad_id_is_never_sent(
    make_source: Any, payments_config: dict[str, Any], bank: PaymentsSandbox
) -> None:
    source = source_for(make_source, payments_config)
    results = await source.fetch(["missing-1", "not an/account"])
    assert all(r.ok and r.value is None for r in results.values())
    assert bank.state.calls["transactions"] == 1


@given(st.integers(min_value=0, max_value=10**12))
def test_pence_round_trip_exactly(pence: int) -> None:
    assert to_pence(f"{pence // 100}.{pence % 100:02d}") == pence
    assert to_pence(f"{pence // 100}.{pence % 100:02d}000") == pence


@pytest.mark.parametrize("amount", ["12.345", "-1.00", "1e2", "NaN", "", "12,34", " 1.00", "1.2.3"])
def test_amounts_that_are_not_pounds_and_pence_are_refused(amount: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        to_pence(amount)
