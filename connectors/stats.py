"""Per-connector metrics: counters and a latency window, read as an immutable snapshot.

Counters are plain integers mutated on the event loop (no locks needed). Latency keeps the most recent
attempts in a bounded window: percentiles over recent behaviour are what a steward's health view needs,
and memory stays constant however long the process runs.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from connectors.errors import ErrorCode
from connectors.metrics import ConnectorMeter

__all__ = ["ConnectorStats", "LatencyWindow", "OutcomeWindow", "StatsSnapshot"]

RECENT_CALLS = 200  # upstream calls an error rate is judged over ...
RECENT_SECONDS = 300.0  # ... if they are no older than this


class LatencyWindow:
    def __init__(self, size: int = 2048) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100) of the window, in seconds; None when empty."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]


class OutcomeWindow:
    """Whether each of the most recent upstream calls failed: the error rate a steward sees is recent."""

    def __init__(self, size: int = RECENT_CALLS, horizon: float = RECENT_SECONDS) -> None:
        self._calls: deque[tuple[float, bool]] = deque(maxlen=size)
        self.horizon = horizon

    def add(self, failed: bool, *, now: float | None = None) -> None:
        self._calls.append((time.monotonic() if now is None else now, failed))

    def error_rate(self, *, now: float | None = None) -> float | None:
        """Failed share (0..1) of the recent calls within the horizon; None when there were none."""
        since = (time.monotonic() if now is None else now) - self.horizon
        recent = [failed for at, failed in self._calls if at >= since]
        return sum(recent) / len(recent) if recent else None


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    connector: str
    enabled: bool
    breaker_state: str
    breaker_opened: int
    calls: int  # fetch() calls
    keys: int  # keys asked for in those calls
    cache_hits: int
    cache_misses: int
    stale_served: int
    cache_errors: int
    coalesced: int  # keys that joined a load already in flight instead of starting one
    upstream_calls: int  # batched upstream calls started (one per chunk of keys)
    upstream_attempts: int
    retries: int
    errors: dict[str, int]  # per error code: failed upstream calls, and keys an answer got wrong
    timeouts: int
    rejected: int  # refused locally: breaker open or bulkhead full
    in_flight: int
    waiting: int
    latency_ms: dict[str, float | None]  # p50 / p95 / p99 / max of upstream attempts
    error_rate: float | None  # failed share of recent upstream calls (see OutcomeWindow)
    last_success_at: datetime | None
    last_error: str | None  # "<CODE>: <safe message>" of the most recent failed call
    last_error_at: datetime | None

    @property
    def cache_hit_rate(self) -> float | None:
        looked_up = self.cache_hits + self.cache_misses + self.stale_served
        return self.cache_hits / looked_up if looked_up else None


@dataclass(slots=True)
class ConnectorStats:
    calls: int = 0
    keys: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    stale_served: int = 0
    coalesced: int = 0
    upstream_calls: int = 0
    upstream_attempts: int = 0
    retries: int = 0
    timeouts: int = 0
    rejected: int = 0
    errors: Counter[ErrorCode] = field(default_factory=Counter)
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    recent: OutcomeWindow = field(default_factory=OutcomeWindow)
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    meter: ConnectorMeter | None = None  # the same events, for Prometheus (connectors.metrics)

    def fetch(self, keys: int) -> None:
        self.calls += 1
        self.keys += keys
        if self.meter is not None:
            self.meter.calls.inc()
            self.meter.keys.inc(keys)

    def cache_hit(self) -> None:
        self.cache_hits += 1
        if self.meter is not None:
            self.meter.cache_hits.inc()

    def cache_miss(self) -> None:
        self.cache_misses += 1
        if self.meter is not None:
            self.meter.cache_misses.inc()

    def stale(self) -> None:
        self.stale_served += 1
        if self.meter is not None:
            self.meter.stale.inc()

    def coalesce(self) -> None:
        self.coalesced += 1
        if self.meter is not None:
            self.meter.coalesced.inc()

    def upstream_call(self) -> None:
        self.upstream_calls += 1
        if self.meter is not None:
            self.meter.upstream_calls.inc()

    def attempt(self) -> None:
        self.upstream_attempts += 1
        if self.meter is not None:
            self.meter.attempts.inc()

    def retry(self) -> None:
        self.retries += 1
        if self.meter is not None:
            self.meter.retries.inc()

    def took(self, seconds: float) -> None:
        self.latency.add(seconds)
        if self.meter is not None:
            self.meter.latency.observe(seconds)

    def failed(self, code: ErrorCode, *, rejected: bool = False) -> None:
        self.errors[code] += 1
        if self.meter is not None:
            self.meter.errors.inc()
        if code is ErrorCode.CONNECTOR_TIMEOUT:
            self.timeouts += 1
            if self.meter is not None:
                self.meter.timeouts.inc()
        if rejected:
            self.rejected += 1
            if self.meter is not None:
                self.meter.rejected.inc()

    def call_failed(self, code: ErrorCode, message: str, at: datetime) -> None:
        """One upstream call (a whole chunk of keys) failed."""
        self.recent.add(True)
        self.last_error = f"{code.value}: {message}"
        self.last_error_at = at

    def call_succeeded(self, at: datetime) -> None:
        self.recent.add(False)
        self.last_success_at = at

    def snapshot(
        self,
        *,
        connector: str,
        enabled: bool,
        breaker_state: str,
        breaker_opened: int,
        cache_errors: int,
        in_flight: int,
        waiting: int,
    ) -> StatsSnapshot:
        def ms(q: float) -> float | None:
            value = self.latency.percentile(q)
            return None if value is None else round(value * 1000, 3)

        return StatsSnapshot(
            connector=connector,
            enabled=enabled,
            breaker_state=breaker_state,
            breaker_opened=breaker_opened,
            calls=self.calls,
            keys=self.keys,
            cache_hits=self.cache_hits,
            cache_misses=self.cache_misses,
            stale_served=self.stale_served,
            cache_errors=cache_errors,
            coalesced=self.coalesced,
            upstream_calls=self.upstream_calls,
            upstream_attempts=self.upstream_attempts,
            retries=self.retries,
            errors={code.value: n for code, n in sorted(self.errors.items())},
            timeouts=self.timeouts,
            rejected=self.rejected,
            in_flight=in_flight,
            waiting=waiting,
            latency_ms={"p50": ms(50), "p95": ms(95), "p99": ms(99), "max": ms(100)},
            error_rate=self.recent.error_rate(),
            last_success_at=self.last_success_at,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
        )
