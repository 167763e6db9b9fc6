"""The employer-earnings kind against its sandbox: API key, one batched call for many people, pence kept whole,
wrong answers refused per person, every fault a typed error. Calls are counted at the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from support import random_nino

from connectors.errors import ErrorCode
from connectors.kinds.earnings_feed import EarningsFeed, EarningsFeedConnector
from connectors.sandbox.base import Fault
from connectors.sandbox.earnings import EarningsSandbox, EarningsState, earnings_for
from connectors.testing import get_connector_test_class, merge

EARNINGS_ENV = {"EARNINGS_API_KEY": "earnings-key-0123"}
FAST = {
    "timeout": {"attempt": 0.5, "total": 1.5},
    "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 2.0},
    "breaker": {"failure_threshold": 50, "reset_timeout": 0.3},
}


@pytest.fixture
async def earnings() -> AsyncIterator[EarningsSandbox]:
    async with EarningsSandbox(EarningsState(api_key=EARNINGS_ENV["EARNINGS_API_KEY"])) as running:
        yield running


@pytest.fixture
def earnings_env() -> dict[str, str]:
    return dict(EARNINGS_ENV)


@pytest.fixture
def earnings_config(earnings: EarningsSandbox) -> dict[str, Any]:
    return merge(
        {
            "name": "employer_earnings",
            "kind": "earnings_feed",
            "description": "Employer-reported pay periods (sandbox)",
            "owner": "data-stewards@example.gov.uk",
            "lawful_basis": "legal_obligation",
            "purpose": "child-maintenance",
            "consent_required": False,
            "settings": {"base_url": earnings.url, "api_key": "EARNINGS_API_KEY", "lookback_days": 400},
        },
        FAST,
    )


TestEarningsFeedContract = get_connector_test_class(
    EarningsFeedConnector,
    config="earnings_config",
    environ="earnings_env",
    sample_keys=["AB123456C", "CE654321A", "JG112233D"],
    missing_keys=["missing-1"],
    dead_config=lambda d: merge(d, {"settings": {"base_url": "http://127.0.0.1:9"}}),
)


def make(make_source: Any, document: dict[str, Any], **overrides: Any) -> Any:
    return make_source(kind=EarningsFeedConnector, document=document, environ=EARNINGS_ENV, store=False, **overrides)


async def test_one_person_matches_what_the_api_holds_in_whole_pence(
    make_source: Any, earnings_config: dict[str, Any], earnings: EarningsSandbox
) -> None:
    result = await make(make_source, earnings_config).fetch_one("AB123456C")
    assert result.ok, result.error
    feed: EarningsFeed = result.value
    since = (datetime.now(UTC) - timedelta(days=400)).date()
    held = earnings_for("AB123456C", earnings.state, since)
    assert held is not None and len(feed.periods) == len(held["periods"]) > 10
    assert feed.gross_pay_pence_total == sum(p["grossPayPence"] for p in held["periods"])
    assert feed.periods[0].period_end == max(date.fromisoformat(p["periodEnd"]) for p in held["periods"])
    assert feed.current_employer == feed.periods[0].employer
    assert all(isinstance(p.gross_pay_pence, int) and p.period_start <= p.period_end for p in feed.periods)
    assert earnings.state.calls["earnings"] == 1


async def test_fifty_people_cost_one_batched_call(
    make_source: Any, earnings_config: dict[str, Any], earnings: EarningsSandbox
) -> None:
    ninos = list(dict.fromkeys(random_nino() for _ in range(50)))
    earnings.state.unknown.add(ninos[0])
    results = await make(make_source, earnings_config).fetch(ninos)
    assert earnings.state.api_calls == 1 and earnings.state.batches == [len(ninos)]
    assert results[ninos[0]].ok and results[ninos[0]].value is None
    assert all(results[n].ok and results[n].value is not None for n in ninos[1:])


async def test_a_wrong_api_key_is_an_auth_failure_never_retried(
    make_source: Any, earnings_config: dict[str, Any], earnings: EarningsSandbox
) -> None:
    source = make_source(
        kind=EarningsFeedConnector, document=earnings_config, environ={"EARNINGS_API_KEY": "wrong"}, store=False
    )
    result = await source.fetch_one("AB123456C")
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_AUTH_FAILED
    assert earnings.state.calls["earnings"] == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(mode="error_500"), ErrorCode.CONNECTOR_UNAVAILABLE),
        (Fault(mode="rate_limit_429", retry_after=10), ErrorCode.CONNECTOR_UNAVAILABLE),
        (Fault(mode="garbage_json"), ErrorCode.CONNECTOR_BAD_RESPONSE),
        (Fault(mode="hang"), ErrorCode.CONNECTOR_TIMEOUT),
        (Fault(mode="latency", latency=3.0), ErrorCode.CONNECTOR_TIMEOUT),
    ],
    ids=lambda v: v.mode if isinstance(v, Fault) else "",
)
async def test_faults_are_typed_errors_for_one_and_for_a_batch(
    make_source: Any, earnings_config: dict[str, Any], earnings: EarningsSandbox, fault: Fault, code: ErrorCode
) -> None:
    earnings.state.inject(fault)
    source = make(make_source, earnings_config)
    for keys in (["AB123456C"], ["CE654321A", "JG112233D"]):
        results = await source.fetch(keys)
        assert all(r.value is None and r.error is not None and r.error.code is code for r in results.values())


async def test_a_wrong_schema_fails_only_that_person(
    make_source: Any, earnings_config: dict[str, Any], earnings: EarningsSandbox
) -> None:
    earnings.state.inject(Fault(mode="wrong_schema", times=1))
    single = await make(make_source, earnings_config).fetch_one("AB123456C")
    assert single.error is not None and single.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE
    earnings.state.inject(Fault(mode="wrong_schema", times=1))
    batch = await make(make_source, earnings_config).fetch(["CE654321A", "JG112233D"])
    assert all(r.error is not None and r.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE for r in batch.values())


@pytest.mark.parametrize(
    "period",
    [
        {"grossPayPence": 1250.5},
        {"grossPayPence": -100},
        {"grossPayPence": "1250"},
        {"periodStart": "2026-02-01", "periodEnd": "2026-01-01"},
    ],
)
async def test_a_period_that_is_not_whole_pence_in_order_is_refused_not_rounded(
    session: aiohttp.ClientSession, period: dict[str, Any], earnings_config: dict[str, Any]
) -> None:
    from connectors.registry import build_connector

    connector = build_connector(EarningsFeedConnector, earnings_config, session=session, environ=EARNINGS_ENV)
    assert isinstance(connector, EarningsFeedConnector)
    good = {
        "employer": {"name": "Acme"},
        "periodStart": "2026-01-01",
        "periodEnd": "2026-01-31",
        "grossPayPence": 1250,
    }
    ok = connector._record({"nino": "AB123456C", "periods": [good]}, "AB123456C")
    assert isinstance(ok, EarningsFeed) and ok.gross_pay_pence_total == 1250
    bad = connector._record({"nino": "AB123456C", "periods": [{**good, **period}]}, "AB123456C")
    assert not isinstance(bad, EarningsFeed) and getattr(bad, "code", None) is ErrorCode.CONNECTOR_BAD_RESPONSE
    other = connector._record({"nino": "CE654321A", "periods": [good]}, "AB123456C")
    assert getattr(other, "code", None) is ErrorCode.CONNECTOR_BAD_RESPONSE
