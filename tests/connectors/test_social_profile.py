"""The social_profile kind against its sandbox: typed fields, batching, OAuth2, and every upstream fault mode.

Every fault ends as a typed per-key error (never an exception), and the sandbox's own counters prove how
many upstream calls were made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from connectors.auth import OAuth2ClientCredentials
from connectors.errors import AuthFailed, ErrorCode
from connectors.kinds.social_profile import SocialProfile
from connectors.sandbox import Fault, SocialSandbox, profile_for
from connectors.source import Source

MakeSource = Callable[..., Source]


def _expected(key: str) -> SocialProfile:
    doc = profile_for(key)
    assert doc is not None
    current = next(p for p in doc["positions"] if p["isCurrent"])
    return SocialProfile(
        headline=doc["headline"],
        current_employer=current["company"]["name"],
        location=doc["location"]["name"],
        connections=doc["connectionsCount"],
        last_active=datetime.fromisoformat(doc["lastActiveAt"]),
    )


async def test_profiles_resolve_to_typed_fields(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source()
    results = await source.fetch(["alice", "bob"])
    for key in ("alice", "bob"):
        result = results[key]
        assert result.ok and result.value == _expected(key)
        assert isinstance(result.value.last_active, datetime) and result.value.last_active.tzinfo is not None
        assert result.provenance is not None
        assert result.provenance.connector == "social" and not result.provenance.stale
        assert result.provenance.match_confidence is None  # filled in by identity linking later
    assert sandbox.state.calls == {"token": 1, "batch": 1}


async def test_one_key_uses_the_single_endpoint_and_unknown_ids_are_none(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    source = make_source()
    assert (await source.fetch_one("alice")).value == _expected("alice")
    missing = await source.fetch_one("missing-42")
    assert missing.ok and missing.value is None and missing.provenance is not None
    not_an_id = await source.fetch_one("no such/id")  # outside the API's id alphabet: no call at all
    assert not_an_id.ok and not_an_id.value is None
    assert sandbox.state.calls == {"token": 1, "profile": 2}


async def test_fifty_keys_make_one_batched_call(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    keys = [f"person-{i}" for i in range(48)] + ["missing-a", "missing-b"]
    results = await make_source().fetch(keys)
    assert list(results) == keys
    assert all(r.ok for r in results.values())
    assert [k for k, r in results.items() if r.value is None] == ["missing-a", "missing-b"]
    assert sandbox.state.calls["batch"] == 1 and sandbox.state.calls["profile"] == 0
    assert sandbox.state.batches == [keys]


async def test_batches_are_split_at_the_configured_size(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    keys = [f"p{i}" for i in range(120)]
    results = await make_source(settings={"batch_size": 50}).fetch(keys)
    assert all(r.ok and r.value is not None for r in results.values())
    assert sorted(len(b) for b in sandbox.state.batches) == [20, 50, 50]


async def test_token_is_reused_until_it_fails_then_refreshed_once(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    source = make_source(store=False)
    await source.fetch(["a1"])
    await source.fetch(["a2", "a3"])
    assert sandbox.state.calls["token"] == 1
    sandbox.state.revoke_tokens()  # the API now answers 401 to the token we hold
    result = await source.fetch_one("a4")
    assert result.ok and result.value is not None
    assert sandbox.state.calls["token"] == 2
    assert sandbox.state.calls["profile"] == 3  # a1, the 401 for a4, a4 again


async def test_token_expiry_is_respected(session: aiohttp.ClientSession, sandbox: SocialSandbox) -> None:
    now = [1000.0]
    auth = OAuth2ClientCredentials(
        session,
        f"{sandbox.url}/oauth/v2/accessToken",
        sandbox.state.client_id,
        sandbox.state.client_secret,
        clock=lambda: now[0],
    )
    first = await auth.token()
    assert await auth.token() == first
    now[0] += sandbox.state.token_lifetime - 1  # inside the safety margin before expiry
    assert await auth.token() != first
    assert auth.tokens_fetched == 2 == sandbox.state.calls["token"]


async def test_concurrent_callers_share_one_token_request(
    session: aiohttp.ClientSession, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.1, target="token"))
    auth = OAuth2ClientCredentials(
        session, f"{sandbox.url}/oauth/v2/accessToken", sandbox.state.client_id, sandbox.state.client_secret
    )
    tokens = await asyncio.gather(*(auth.token() for _ in range(20)))
    assert len(set(tokens)) == 1 and sandbox.state.calls["token"] == 1


async def test_wrong_client_credentials_are_auth_failed(session: aiohttp.ClientSession, sandbox: SocialSandbox) -> None:
    auth = OAuth2ClientCredentials(session, f"{sandbox.url}/oauth/v2/accessToken", "someone", "wrong")
    with pytest.raises(AuthFailed):
        await auth.token()


FAULTS: list[tuple[Fault, ErrorCode, bool]] = [
    # (fault, code expected, whether retrying may help: retryable faults are tried twice)
    (Fault(mode="error_500"), ErrorCode.CONNECTOR_UNAVAILABLE, True),
    (Fault(mode="rate_limit_429", retry_after=0), ErrorCode.CONNECTOR_UNAVAILABLE, True),
    (Fault(mode="hang"), ErrorCode.CONNECTOR_TIMEOUT, True),
    (Fault(mode="latency", latency=2.0), ErrorCode.CONNECTOR_TIMEOUT, True),
    (Fault(mode="garbage_json"), ErrorCode.CONNECTOR_BAD_RESPONSE, False),
    (Fault(mode="wrong_schema"), ErrorCode.CONNECTOR_BAD_RESPONSE, False),
    (Fault(mode="auth_failure"), ErrorCode.CONNECTOR_AUTH_FAILED, False),
    (Fault(mode="auth_failure", target="token"), ErrorCode.CONNECTOR_AUTH_FAILED, False),
    (Fault(mode="error_500", target="token"), ErrorCode.CONNECTOR_UNAVAILABLE, True),
    (Fault(mode="wrong_schema", target="token"), ErrorCode.CONNECTOR_BAD_RESPONSE, False),
    (Fault(mode="hang", target="token"), ErrorCode.CONNECTOR_TIMEOUT, True),
]


@pytest.mark.parametrize("keys", [["alice"], ["alice", "bob", "carol"]], ids=["single", "batch"])
@pytest.mark.parametrize(("fault", "code", "retryable"), FAULTS, ids=[f"{f.mode}-{f.target}" for f, _, _ in FAULTS])
async def test_every_fault_mode_is_a_typed_error_not_an_exception(
    make_source: MakeSource,
    sandbox: SocialSandbox,
    fault: Fault,
    code: ErrorCode,
    retryable: bool,
    keys: list[str],
) -> None:
    source = make_source(timeout={"attempt": 0.4, "total": 1.2})
    sandbox.state.inject(fault)
    results = await source.fetch(keys)
    assert list(results) == keys
    for result in results.values():
        assert result.value is None and result.provenance is None
        assert result.error is not None and result.error.code is code, result.error
        assert "http://" not in result.error.message  # URLs can carry personal identifiers
    stats = source.snapshot()
    assert stats.upstream_attempts == (2 if retryable else 1)
    assert stats.errors[code.value] >= 1
    sandbox.state.clear()
    recovered = await source.fetch(keys)  # nothing was cached for failures; the upstream is fine again
    assert all(r.ok and r.value is not None for r in recovered.values())


async def test_a_slow_upstream_within_budget_still_answers(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.1))
    result = await make_source(timeout={"attempt": 0.5, "total": 1.0}).fetch_one("alice")
    assert result.ok and result.value == _expected("alice")


async def test_one_transient_failure_is_retried(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.inject(Fault(mode="error_500", times=1))
    source = make_source()
    result = await source.fetch_one("alice")
    assert result.ok and result.value == _expected("alice")
    assert sandbox.state.calls["profile"] == 2
    assert source.snapshot().retries == 1


async def test_retry_after_is_honoured(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.inject(Fault(mode="rate_limit_429", retry_after=1, times=1))
    source = make_source(timeout={"attempt": 0.5, "total": 3.0}, retry={"max_retry_after": 2.0})
    started = time.monotonic()
    result = await source.fetch_one("alice")
    assert result.ok and result.value is not None
    assert time.monotonic() - started >= 0.95  # waited as asked, not the ~10 ms backoff
    assert sandbox.state.calls["profile"] == 2


async def test_a_retry_after_beyond_the_limit_ends_the_fetch(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.inject(Fault(mode="rate_limit_429", retry_after=30))
    source = make_source(retry={"attempts": 5, "max_retry_after": 2.0})
    result = await source.fetch_one("alice")
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_UNAVAILABLE
    assert "rate limited" in result.error.message
    assert sandbox.state.calls["profile"] == 1 and source.snapshot().retries == 0


async def test_a_real_upstream_rate_limit_is_survived(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.rate_limit = 2  # requests per clock second, enforced by the sandbox itself
    # 5 requests cannot all fit into the two windows they may straddle: at least one meets a 429 + Retry-After.
    source = make_source(store=False, timeout={"attempt": 0.5, "total": 5.0}, retry={"attempts": 4})
    results = await asyncio.gather(*(source.fetch_one(f"r{i}") for i in range(5)))
    assert all(r.ok for r in results)
    assert source.snapshot().retries >= 1


async def test_per_profile_errors_in_a_batch_stay_per_key(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    sandbox.state.inject(Fault(mode="wrong_schema"))
    results: dict[str, Any] = await make_source().fetch(["a", "b"])
    assert {r.error.code for r in results.values() if r.error} == {ErrorCode.CONNECTOR_BAD_RESPONSE}
    assert sandbox.state.calls["batch"] == 1  # a schema fault is not retried
