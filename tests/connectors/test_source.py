"""The shared machinery around every connector, proven against the sandbox and a real valkey.

Coalescing, the Redis cache with stale serving, the breaker, the bulkhead, the rate limit, shutdown,
and the metrics — each claim checked by what the upstream really saw (the sandbox's counters).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from connectors.cache import RecordCache
from connectors.errors import CacheUnavailable, ErrorCode, InvalidKey
from connectors.resilience import BreakerState
from connectors.sandbox import Fault, SocialSandbox
from connectors.source import Source

MakeSource = Callable[..., Source]


async def _eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------------------------------------
# Coalescing
# --------------------------------------------------------------------------------------------------------


async def test_a_hundred_concurrent_asks_for_one_key_make_one_upstream_call(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.05))
    source = make_source()
    results = await asyncio.gather(*(source.fetch(["alice"]) for _ in range(100)))
    values = {r["alice"].value for r in results}
    assert len(values) == 1 and None not in values
    assert sandbox.state.calls == {"token": 1, "profile": 1}
    stats = source.snapshot()
    assert stats.coalesced == 99 and stats.upstream_calls == 1 and stats.cache_misses == 1


async def test_coalescing_works_uncached_and_across_overlapping_batches(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.05))
    source = make_source(store=False)
    first, second = await asyncio.gather(source.fetch(["a", "b", "c"]), source.fetch(["b", "c", "d"]))
    assert first["b"].value == second["b"].value is not None
    assert sorted(sorted(b) for b in sandbox.state.batches) == [["a", "b", "c"]]  # d alone went single
    assert sandbox.state.calls == {"token": 1, "batch": 1, "profile": 1}


async def test_a_caller_giving_up_does_not_cancel_the_call_others_wait_on(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.2))
    source = make_source()
    impatient = asyncio.create_task(source.fetch(["alice"]))
    patient = asyncio.create_task(source.fetch(["alice"]))
    await asyncio.sleep(0.05)
    impatient.cancel()
    result = (await patient)["alice"]
    assert result.ok and result.value is not None
    assert impatient.cancelled()
    assert sandbox.state.calls["profile"] == 1


# --------------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------------


async def test_a_cached_value_spares_the_upstream_and_says_so(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source()
    first = await source.fetch_one("alice")
    second = await source.fetch_one("alice")
    assert second.value == first.value
    assert first.provenance is not None and second.provenance is not None
    assert not first.provenance.cached and second.provenance.cached and not second.provenance.stale
    assert second.provenance.fetched_at == first.provenance.fetched_at  # when the upstream said it
    assert sandbox.state.calls["profile"] == 1
    assert source.snapshot().cache_hits == 1


async def test_replicas_share_the_cache(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    one, two = make_source(), make_source()  # same cache namespace, like two hub processes
    await one.fetch(["a", "b"])
    results = await two.fetch(["a", "b"])
    assert all(r.provenance is not None and r.provenance.cached for r in results.values())
    assert sandbox.state.calls["batch"] == 1


async def test_a_miss_is_cached_too(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source()
    for _ in range(3):
        result = await source.fetch_one("missing-7")
        assert result.ok and result.value is None
    assert sandbox.state.calls["profile"] == 1


async def test_stale_value_is_served_and_marked_when_the_upstream_fails(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    source = make_source(cache={"ttl": 0.2, "max_staleness": 60})
    fresh = await source.fetch_one("alice")
    await asyncio.sleep(0.3)
    sandbox.state.inject(Fault(mode="error_500"))
    stale = await source.fetch_one("alice")
    assert stale.value == fresh.value
    assert stale.stale and stale.provenance is not None and stale.provenance.cached
    assert fresh.provenance is not None and stale.provenance.fetched_at == fresh.provenance.fetched_at
    assert stale.error is not None and stale.error.code is ErrorCode.CONNECTOR_UNAVAILABLE
    assert "stale" in stale.error.message
    assert source.snapshot().stale_served == 1
    sandbox.state.clear()
    refreshed = await source.fetch_one("alice")  # expired value refetched once the upstream is back
    assert refreshed.ok and not refreshed.stale
    assert refreshed.provenance is not None and refreshed.provenance.fetched_at > fresh.provenance.fetched_at


async def test_nothing_is_served_beyond_max_staleness(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source(cache={"ttl": 0.1, "max_staleness": 0.1})
    await source.fetch_one("alice")
    await asyncio.sleep(0.3)
    sandbox.state.inject(Fault(mode="error_500"))
    result = await source.fetch_one("alice")
    assert result.value is None and result.error is not None
    assert result.error.code is ErrorCode.CONNECTOR_UNAVAILABLE


async def test_background_revalidation_answers_stale_at_once_and_refreshes(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    source = make_source(cache={"ttl": 0.2, "max_staleness": 60, "revalidate": "background"})
    first = await source.fetch_one("alice")
    await asyncio.sleep(0.3)
    sandbox.state.inject(Fault(mode="latency", latency=0.6))  # within the 1 s attempt timeout
    stale = await source.fetch_one("alice")
    # answered while the refresh is still waiting on the slow upstream: it did not wait for it
    assert source._refreshing == {"alice"}
    assert stale.ok and stale.stale and stale.value == first.value
    await _eventually(lambda: sandbox.state.calls["profile"] == 2 and not source._refreshing)
    renewed = await source.fetch_one("alice")
    assert renewed.ok and not renewed.stale and renewed.provenance is not None and renewed.provenance.cached
    assert first.provenance is not None and renewed.provenance.fetched_at > first.provenance.fetched_at
    assert sandbox.state.calls["profile"] == 2


async def test_forget_drops_cached_values(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source()
    await source.fetch(["a", "b"])
    assert await source.forget(["a"]) == 1
    results = await source.fetch(["a", "b"])
    assert results["a"].provenance is not None and not results["a"].provenance.cached
    assert results["b"].provenance is not None and results["b"].provenance.cached
    assert sandbox.state.calls == {"token": 1, "batch": 1, "profile": 1}


async def test_a_dead_cache_is_only_a_miss_but_a_failed_purge_is_an_error(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)  # nothing listens on discard
    try:
        source = make_source(store=RecordCache(dead, timeout=0.3))
        result = await source.fetch_one("alice")
        assert result.ok and result.value is not None
        assert source.snapshot().cache_errors >= 2  # the read and the write
        with pytest.raises(CacheUnavailable):
            await source.forget(["alice"])
    finally:
        await dead.aclose()


async def test_undecodable_cache_entries_are_misses(
    make_source: MakeSource, sandbox: SocialSandbox, redis: aioredis.Redis
) -> None:
    source = make_source()
    assert source.cache is not None
    await redis.set(source.cache.key("alice"), b"not-a-timestamp\n{]")
    result = await source.fetch_one("alice")
    assert result.ok and result.value is not None and sandbox.state.calls["profile"] == 1
    assert source.snapshot().cache_errors == 1


# --------------------------------------------------------------------------------------------------------
# Breaker, bulkhead, rate limit
# --------------------------------------------------------------------------------------------------------


async def test_breaker_opens_then_recovers_through_a_half_open_probe(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    source = make_source(store=False, retry={"attempts": 1}, breaker={"failure_threshold": 2, "reset_timeout": 0.3})
    sandbox.state.inject(Fault(mode="error_500"))
    for key in ("a", "b"):
        assert (await source.fetch_one(key)).error is not None
    assert source.breaker.state is BreakerState.OPEN
    calls = sandbox.state.api_calls
    rejected = await source.fetch_one("c")
    assert rejected.error is not None and rejected.error.code is ErrorCode.CONNECTOR_UNAVAILABLE
    assert "circuit breaker is open" in rejected.error.message
    assert sandbox.state.api_calls == calls  # open: the upstream was not called

    await asyncio.sleep(0.35)
    assert source.breaker.state is BreakerState.HALF_OPEN
    failed_probe = await source.fetch_one("d")  # still failing: the probe re-opens it
    assert failed_probe.error is not None and sandbox.state.api_calls == calls + 1
    assert source.breaker.state is BreakerState.OPEN

    sandbox.state.clear()
    await asyncio.sleep(0.35)
    sandbox.state.inject(Fault(mode="latency", latency=0.1))
    probe, refused = await asyncio.gather(source.fetch_one("e"), source.fetch_one("f"))
    assert probe.ok and probe.value is not None  # one probe at a time while half-open
    assert refused.error is not None and "half_open" in refused.error.message
    assert source.breaker.state is BreakerState.CLOSED
    assert (await source.fetch_one("g")).ok
    stats = source.snapshot()
    assert stats.breaker_state == "closed" and stats.breaker_opened == 2 and stats.rejected == 2


async def test_a_hung_upstream_opens_the_breaker_even_when_one_attempt_is_the_whole_budget(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="hang"))
    source = make_source(
        timeout={"attempt": 0.2, "total": 0.2}, retry={"attempts": 1}, breaker={"failure_threshold": 2}
    )
    for key in ("a", "b"):
        result = await source.fetch_one(key)
        assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_TIMEOUT
    assert source.breaker.state is BreakerState.OPEN
    assert source.snapshot().timeouts == 2


async def test_bulkhead_bounds_concurrency_and_refuses_overflow(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="latency", latency=0.2))
    source = make_source(store=False, bulkhead={"max_concurrent": 2, "max_waiting": 0})
    results = await asyncio.gather(*(source.fetch_one(k) for k in ("a", "b", "c")))
    assert sum(r.ok for r in results) == 2
    [refused] = [r for r in results if not r.ok]
    assert refused.error is not None and "bulkhead full" in refused.error.message
    assert sandbox.state.peak_in_flight == 2

    queued = make_source(store=False, bulkhead={"max_concurrent": 2, "max_waiting": 10})
    sandbox.state.reset()
    sandbox.state.inject(Fault(mode="latency", latency=0.1))
    results = await asyncio.gather(*(queued.fetch_one(k) for k in ("d", "e", "f", "g", "h")))
    assert all(r.ok for r in results)
    assert sandbox.state.peak_in_flight == 2


async def test_rate_limit_spaces_upstream_calls(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source(store=False, rate_limit={"rate": 4, "per": 1.0}, timeout={"total": 3.0})
    started = time.monotonic()
    results = await asyncio.gather(*(source.fetch_one(f"k{i}") for i in range(7)))
    assert all(r.ok for r in results)
    assert time.monotonic() - started >= 0.6  # a burst of 4, then 3 more at 4 per second


async def test_waiting_for_capacity_is_bounded_by_the_budget(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source(store=False, rate_limit={"rate": 1, "per": 10.0}, timeout={"attempt": 0.6, "total": 0.6})
    first, second = await asyncio.gather(source.fetch_one("a"), source.fetch_one("b"))
    assert first.ok
    assert second.error is not None and second.error.code is ErrorCode.CONNECTOR_TIMEOUT
    assert sandbox.state.calls["profile"] == 1


# --------------------------------------------------------------------------------------------------------
# Keys, lifecycle, metrics
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [[""], ["   "], ["a\nb"], ["x" * 300], "alice", [None]])
async def test_unusable_keys_are_refused(make_source: MakeSource, keys: Any) -> None:
    with pytest.raises(InvalidKey):
        await make_source().fetch(keys)


async def test_closing_answers_waiters_instead_of_leaving_them_hanging(
    make_source: MakeSource, sandbox: SocialSandbox
) -> None:
    sandbox.state.inject(Fault(mode="hang"))
    source = make_source(timeout={"attempt": 5.0, "total": 10.0})
    pending = asyncio.create_task(source.fetch_one("alice"))
    await _eventually(lambda: sandbox.state.in_flight == 1)
    await source.aclose()
    result = await asyncio.wait_for(pending, 1.0)
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_UNAVAILABLE
    after = await source.fetch_one("bob")
    assert after.error is not None and "shutting down" in after.error.message


async def test_stats_describe_what_happened(make_source: MakeSource, sandbox: SocialSandbox) -> None:
    source = make_source()
    await source.fetch(["a", "b"])
    await source.fetch(["a"])
    sandbox.state.inject(Fault(mode="error_500"))
    await source.fetch(["c"])
    stats = source.snapshot()
    assert stats.connector == "social" and stats.enabled
    assert (stats.calls, stats.keys) == (3, 4)
    assert (stats.cache_hits, stats.cache_misses) == (1, 3)
    assert stats.upstream_calls == 2 and stats.upstream_attempts == 3 and stats.retries == 1
    assert stats.errors == {"CONNECTOR_UNAVAILABLE": 1}
    assert stats.breaker_state == "closed" and stats.in_flight == 0
    assert stats.latency_ms["p50"] is not None and stats.latency_ms["max"] is not None
    assert stats.latency_ms["p50"] <= stats.latency_ms["p99"] <= stats.latency_ms["max"]  # type: ignore[operator]
