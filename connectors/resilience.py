"""Resilience primitives shared by every connector: circuit breaker, bulkhead, rate limit, retry policy.

Choices (evaluated against the issue's list):

* **Retries — tenacity.** Well kept, asyncio-native (`AsyncRetrying`), composable stop/wait/retry
  strategies, and its wait runs before its stop so a stop can see the coming sleep: that lets one policy
  honour `Retry-After`, give up when the wait would overrun the fetch's time budget, and retry only faults
  marked retryable.
* **Rate limit — aiolimiter.** A small, maintained leaky bucket for asyncio that *waits* for capacity (the
  caller's time budget bounds the wait). It limits one process; `limits` can share a window through Redis
  but opens its own connection from a URL instead of using the client the composition root hands us, so a
  cross-replica quota is left for when an upstream needs one (divide the rate by the replica count now).
* **Circuit breaker — written here (~100 lines).** aiobreaker has had no release since 2021; purgatory
  (asyncio, optional Redis state) is thinly used and exposes state through a global factory and events;
  pybreaker is synchronous. A breaker's state is rightly per process (each replica judges what it sees),
  and we need a strict single half-open probe, failure classification by our exception family and the
  state in metrics — small focused code is clearer than adapting any of them.
* **Bulkhead** is an `asyncio.Semaphore` with a bounded queue: no library adds anything.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_never

from connectors.contract import BreakerPolicy, BulkheadPolicy, RateLimitPolicy, RetryPolicy
from connectors.errors import Rejected, UpstreamError

__all__ = ["Bulkhead", "BreakerState", "CircuitBreaker", "RateLimiter", "retrying"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Permit:
    probe: bool
    generation: int


class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open → (``reset_timeout``) → half-open.

    Half-open lets at most ``half_open_max_calls`` probes through; a probe's success closes the breaker, its
    failure re-opens it for another ``reset_timeout``. Outcomes of calls that began in an earlier state
    (a slow call finishing after the breaker opened) do not move it: only probes decide recovery.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._generation = 0  # bumped on every transition, so stale outcomes are recognised
        self.times_opened = 0
        self.on_change: Callable[[str], None] | None = None  # told each new state (metrics)

    @classmethod
    def from_policy(cls, policy: BreakerPolicy) -> CircuitBreaker:
        return cls(policy.failure_threshold, policy.reset_timeout, policy.half_open_max_calls)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def retry_in(self) -> float:
        """Seconds until an open breaker allows a probe (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Admit one call (or raise `Rejected`), then record how it went.

        An `UpstreamError` counts as a failure, a normal exit as a success; anything else (cancellation,
        a bug) releases the slot without a verdict, so a cancelled probe cannot wedge the breaker half-open.
        """
        permit = self._acquire()
        try:
            yield
        except UpstreamError:
            self._failure(permit)
            raise
        except BaseException:
            self._release(permit)
            raise
        else:
            self._success(permit)

    def check(self) -> None:
        """Raise `Rejected` if a call would be refused now (without taking a probe slot)."""
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._probes >= self.half_open_max_calls):
            self._refuse(state)

    # -- transitions ------------------------------------------------------------------------------------

    def _refuse(self, state: BreakerState) -> NoReturn:
        wait = f"; next probe in {self.retry_in:.1f} s" if state is BreakerState.OPEN else ""
        raise Rejected(f"circuit breaker is {state.value}: not calling the upstream{wait}")

    def _acquire(self) -> _Permit:
        state = self.state
        if state is BreakerState.CLOSED:
            return _Permit(probe=False, generation=self._generation)
        if state is BreakerState.HALF_OPEN and self._probes < self.half_open_max_calls:
            self._probes += 1
            return _Permit(probe=True, generation=self._generation)
        self._refuse(state)

    def _success(self, permit: _Permit) -> None:
        if permit.generation != self._generation:
            self._release(permit)
            return
        if permit.probe:
            self._probes -= 1
            self._transition(BreakerState.CLOSED)
        else:
            self._failures = 0

    def _failure(self, permit: _Permit) -> None:
        if permit.generation != self._generation:
            self._release(permit)
            return
        if permit.probe:
            self._probes -= 1
            self._open()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def _release(self, permit: _Permit) -> None:
        if permit.probe and permit.generation == self._generation:
            self._probes -= 1

    def _open(self) -> None:
        self._opened_at = self._clock()
        self.times_opened += 1
        self._transition(BreakerState.OPEN)

    def _transition(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._failures = 0
        self._probes = 0
        if self.on_change is not None:
            self.on_change(state.value)


class Bulkhead:
    """At most ``max_concurrent`` upstream calls in flight and ``max_waiting`` queued; more are `Rejected`.

    The queue keeps short bursts from failing; its bound keeps a hung upstream from piling up every request
    of the hub behind it (the caller's time budget bounds each wait as well).
    """

    def __init__(self, max_concurrent: int = 10, max_waiting: int = 100) -> None:
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self.in_flight = 0
        self.waiting = 0

    @classmethod
    def from_policy(cls, policy: BulkheadPolicy) -> Bulkhead:
        return cls(policy.max_concurrent, policy.max_waiting)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self.waiting >= self.max_waiting:
            raise Rejected(
                f"bulkhead full: {self.in_flight} calls in flight and {self.waiting} waiting; not calling the upstream"
            )
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._semaphore.release()


class RateLimiter:
    """Upstream attempts per period for this process (aiolimiter's leaky bucket; bursts up to ``rate``)."""

    def __init__(self, rate: float, per: float = 1.0) -> None:
        # aiolimiter acquires whole units and refuses an amount above its capacity: keep capacity >= 1.
        if rate < 1:
            rate, per = 1.0, per / rate
        self._limiter = AsyncLimiter(rate, per)
        self.rate, self.per = rate, per

    @classmethod
    def from_policy(cls, policy: RateLimitPolicy) -> RateLimiter:
        return cls(policy.rate, policy.per)

    async def acquire(self) -> None:
        await self._limiter.acquire()


def retrying(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    remaining: Callable[[], float],
    on_retry: Callable[[], None] | None = None,
) -> AsyncRetrying:
    """A fresh tenacity controller for one fetch (tenacity keeps per-run state on the object).

    Retries `UpstreamError`s marked retryable, for idempotent calls only, with full-jitter exponential
    backoff (AWS architecture blog, "Exponential Backoff And Jitter") — or the upstream's `Retry-After` when
    longer. Stops after ``policy.attempts``, when `Retry-After` exceeds ``policy.max_retry_after``, or when
    the coming wait would leave no time in the fetch's budget (``remaining()`` seconds).
    """

    def wait(state: RetryCallState) -> float:
        cap = min(policy.backoff_max, policy.backoff_initial * 2 ** (state.attempt_number - 1))
        backoff = random.uniform(0, cap)
        asked = _retry_after(state)
        return max(backoff, asked) if asked is not None else backoff

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        asked = _retry_after(state)
        if asked is not None and asked > policy.max_retry_after:
            return True
        return state.upcoming_sleep >= remaining()

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry()

    return AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(lambda e: isinstance(e, UpstreamError) and e.retryable) if idempotent else retry_never,
        before_sleep=before_sleep,
        reraise=True,
    )


def _retry_after(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc.retry_after if isinstance(exc, UpstreamError) else None
