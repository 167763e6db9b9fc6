"""Prometheus metrics of every connector (`prometheus-client`, in the process's default registry).

The hub's `/metrics` (`hub.metrics.render`) exposes them beside its own, multi-process aware like the rest.
Labels are bounded by construction: the connector's name only, which comes from validated YAML (at most a
few dozen sources), never from a request. `connectors.stats.ConnectorStats` feeds these as it counts, so
the steward API's figures and the scraped ones come from the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["BREAKER_VALUES", "ConnectorMeter"]

CALLS = Counter("hub_connector_fetches_total", "Fetches asked of a connector (one per batch of keys)", ["connector"])
KEYS = Counter("hub_connector_keys_total", "Keys asked of a connector", ["connector"])
UPSTREAM_CALLS = Counter(
    "hub_connector_upstream_calls_total", "Upstream calls started (one per chunk of keys)", ["connector"]
)
ATTEMPTS = Counter("hub_connector_upstream_attempts_total", "Upstream attempts, retries included", ["connector"])
ERRORS = Counter(
    "hub_connector_errors_total", "Failed upstream calls and keys a connector answered wrongly", ["connector"]
)
TIMEOUTS = Counter("hub_connector_timeouts_total", "Upstream calls that ran out of time", ["connector"])
REJECTED = Counter("hub_connector_rejected_total", "Calls refused locally: breaker open, bulkhead full", ["connector"])
RETRIES = Counter("hub_connector_retries_total", "Upstream attempts retried", ["connector"])
CACHE_HITS = Counter("hub_connector_cache_hits_total", "Keys answered fresh from the cache", ["connector"])
CACHE_MISSES = Counter("hub_connector_cache_misses_total", "Keys the cache could not answer fresh", ["connector"])
STALE = Counter("hub_connector_stale_served_total", "Keys answered with a stale value", ["connector"])
COALESCED = Counter(
    "hub_connector_coalesced_total", "Keys that joined a load already in flight instead of starting one", ["connector"]
)
LATENCY = Histogram(
    "hub_connector_upstream_duration_seconds",
    "Upstream attempt latency",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BREAKER = Gauge(
    "hub_connector_breaker_state",
    "Circuit breaker: 0 closed, 1 half-open, 2 open",
    ["connector"],
    multiprocess_mode="livemax",  # with several workers: the worst of them
)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(slots=True)
class ConnectorMeter:
    """One connector's children of the metrics above, bound once (label lookup is not free)."""

    calls: Counter
    keys: Counter
    upstream_calls: Counter
    attempts: Counter
    errors: Counter
    timeouts: Counter
    rejected: Counter
    retries: Counter
    cache_hits: Counter
    cache_misses: Counter
    stale: Counter
    coalesced: Counter
    latency: Histogram
    breaker: Gauge

    @classmethod
    def of(cls, connector: str) -> ConnectorMeter:
        meter = cls(
            *(
                m.labels(connector)
                for m in (
                    CALLS,
                    KEYS,
                    UPSTREAM_CALLS,
                    ATTEMPTS,
                    ERRORS,
                    TIMEOUTS,
                    REJECTED,
                    RETRIES,
                    CACHE_HITS,
                    CACHE_MISSES,
                    STALE,
                    COALESCED,
                    LATENCY,
                    BREAKER,
                )
            )
        )
        meter.breaker.set(0)
        return meter

    def breaker_state(self, state: str) -> None:
        self.breaker.set(BREAKER_VALUES.get(state, 0))
