"""The resilience primitives as pure logic: breaker transitions on a fake clock, bulkhead, rate limit, retry policy."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.contract import RetryPolicy
from connectors.errors import AuthFailed, BadResponse, Rejected, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from connectors.resilience import BreakerState, Bulkhead, CircuitBreaker, RateLimiter, retrying
from connectors.stats import LatencyWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fail(breaker: CircuitBreaker, error: UpstreamError | None = None) -> None:
    with pytest.raises(UpstreamError), breaker.guard():
        raise error or UpstreamUnavailable("down")


def _succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard():
        pass


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=Clock())
    _fail(breaker)
    _fail(breaker)
    _succeed(breaker)  # resets the count
    _fail(breaker)
    _fail(breaker)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, BadResponse("garbage"))
    assert breaker.state is BreakerState.OPEN and breaker.times_opened == 1
    with pytest.raises(Rejected, match="open"), breaker.guard():
        pass


def test_breaker_half_opens_after_the_timeout_and_a_probe_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=clock)
    _fail(breaker)
    clock.now += 9.9
    assert breaker.state is BreakerState.OPEN and breaker.retry_in == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN and breaker.retry_in == 0
    _fail(breaker, UpstreamTimeout("slow"))  # a failed probe re-opens for a full timeout
    assert breaker.state is BreakerState.OPEN and breaker.times_opened == 2
    clock.now += 10
    _succeed(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_half_open_admits_one_probe_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock)
    _fail(breaker)
    clock.now += 1
    with breaker.guard():
        with pytest.raises(Rejected, match="half_open"), breaker.guard():
            pass
    assert breaker.state is BreakerState.CLOSED


def test_a_cancelled_probe_does_not_wedge_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock)
    _fail(breaker)
    clock.now += 1
    with pytest.raises(asyncio.CancelledError), breaker.guard():
        raise asyncio.CancelledError
    assert breaker.state is BreakerState.HALF_OPEN
    _succeed(breaker)  # the next call may probe
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_from_before_a_transition_do_not_move_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock)
    slow = breaker.guard()
    slow.__enter__()  # a call admitted while closed, still running
    _fail(breaker)  # another call opens the breaker meanwhile
    slow.__exit__(None, None, None)  # the slow call succeeds late: it was not a probe
    assert breaker.state is BreakerState.OPEN


async def test_bulkhead_queues_up_to_its_bound() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_waiting=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with bulkhead.slot():
            await release.wait()

    first = asyncio.create_task(hold())
    second = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 1)
    with pytest.raises(Rejected, match="bulkhead full"):
        async with bulkhead.slot():
            pass
    release.set()
    await asyncio.gather(first, second)
    assert (bulkhead.in_flight, bulkhead.waiting) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_bulkhead_consistent() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_waiting=5)
    async with bulkhead.slot():
        waiter = asyncio.create_task(bulkhead.slot().__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert bulkhead.waiting == 0
    async with bulkhead.slot():
        assert bulkhead.in_flight == 1


async def test_rate_limiter_allows_a_burst_then_paces() -> None:
    limiter = RateLimiter(rate=5, per=2.0)
    started = time.monotonic()
    for _ in range(5):
        await limiter.acquire()
    assert time.monotonic() - started < 0.3  # the burst did not wait (a wait would be 0.4 s per unit)
    await limiter.acquire()
    assert time.monotonic() - started >= 0.35  # one more unit takes per / rate = 0.4 s


def test_rate_limiter_accepts_fractional_rates() -> None:
    limiter = RateLimiter(rate=0.5, per=1.0)  # one call every two seconds
    assert (limiter.rate, limiter.per) == (1.0, 2.0)


def _policy(**changes: float) -> RetryPolicy:
    values: dict[str, float] = {"attempts": 4, "backoff_initial": 0.001, "backoff_max": 0.002, "max_retry_after": 1.0}
    return RetryPolicy.model_validate({**values, **changes})


async def _run(policy: RetryPolicy, errors: list[UpstreamError | None], *, idempotent: bool = True) -> tuple[int, int]:
    """Run a call failing with ``errors`` in turn (None succeeds); return (attempts, retries)."""
    attempts = retries = 0

    def count_retry() -> None:
        nonlocal retries
        retries += 1

    async def call() -> str:
        nonlocal attempts
        error = errors[attempts]
        attempts += 1
        if error is not None:
            raise error
        return "ok"

    controller = retrying(policy, idempotent=idempotent, remaining=lambda: 10.0, on_retry=count_retry)
    try:
        await controller(call)
    except UpstreamError:
        pass
    return attempts, retries


async def test_retries_cover_retryable_faults_only() -> None:
    assert await _run(_policy(), [UpstreamUnavailable("x"), UpstreamTimeout("y"), None]) == (3, 2)
    assert await _run(_policy(), [BadResponse("x"), None]) == (1, 0)
    assert await _run(_policy(), [AuthFailed("x"), None]) == (1, 0)
    assert await _run(_policy(), [Rejected("x"), None]) == (1, 0)
    assert await _run(_policy(attempts=2), [UpstreamUnavailable("x")] * 5) == (2, 1)


async def test_non_idempotent_calls_are_never_retried() -> None:
    assert await _run(_policy(), [UpstreamUnavailable("x"), None], idempotent=False) == (1, 0)


async def test_retry_after_is_waited_for_and_capped() -> None:
    started = time.monotonic()
    assert await _run(_policy(), [UpstreamUnavailable("429", retry_after=0.2), None]) == (2, 1)
    assert time.monotonic() - started >= 0.19
    assert await _run(_policy(), [UpstreamUnavailable("429", retry_after=60), None]) == (1, 0)


async def test_no_retry_that_would_overrun_the_budget() -> None:
    policy = _policy(backoff_initial=5.0, backoff_max=5.0)
    controller = retrying(policy, idempotent=True, remaining=lambda: 0.0)

    async def call() -> None:
        raise UpstreamUnavailable("x")

    with pytest.raises(UpstreamUnavailable):
        await controller(call)
    assert controller.statistics["attempt_number"] == 1


def test_latency_percentiles_are_nearest_rank_over_a_window() -> None:
    window = LatencyWindow(size=100)
    assert window.percentile(50) is None
    for ms in range(1, 201):
        window.add(ms / 1000)
    assert window.count == 200
    assert window.percentile(50) == pytest.approx(0.150)  # only the last 100 samples (101..200 ms) remain
    assert window.percentile(99) == pytest.approx(0.199)
    assert window.percentile(100) == pytest.approx(0.200)
