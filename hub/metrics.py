"""Prometheus metrics (`prometheus-client`), multi-process aware.

Labels are bounded by construction: operation names are sanitised and capped, error codes and
repository functions come from code, never from raw query text or personal data.
With `PROMETHEUS_MULTIPROC_DIR` set (several workers), `/metrics` aggregates every worker's files.
"""

from __future__ import annotations

import os
import re
import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

REQUESTS = Counter("hub_graphql_requests_total", "GraphQL requests by operation and outcome", ["operation", "outcome"])
REQUEST_SECONDS = Histogram(
    "hub_graphql_request_duration_seconds",
    "GraphQL request latency",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("hub_graphql_errors_total", "GraphQL errors by extensions.code", ["code"])
REFUSALS = Counter("hub_refusals_total", "Requests refused before execution, by code", ["code"])
CYPHER_TRIPS = Counter("hub_cypher_round_trips_total", "Cypher statements sent, by repository function", ["function"])
CYPHER_SECONDS = Histogram(
    "hub_cypher_transaction_duration_seconds",
    "Graph transaction latency by repository function",
    ["function"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GRAPH_IN_FLIGHT = Gauge(
    "hub_graph_transactions_in_flight", "Graph transactions in progress", multiprocess_mode="livesum"
)
LOADER_BATCH = Histogram(
    "hub_dataloader_batch_size", "Keys per DataLoader batch", ["loader"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500)
)
AUDIT_WRITES = Counter("hub_audit_events_total", "Access events written (before responses left)", ["outcome"])

_seen: set[str] = set()
_lock = threading.Lock()


def operation_label(name: object) -> str:
    """A bounded label for a client-chosen operation name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "anonymous" if not name else "invalid"
    with _lock:
        if name in _seen:
            return name
        if len(_seen) < MAX_OPERATION_NAMES:
            _seen.add(name)
            return name
    return "other"


def render() -> tuple[bytes, str]:
    """The exposition text for this process, or for all workers in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class GraphInstrument:
    """Feeds graph transaction timings (graph.driver.Instrument) into the metrics above."""

    def started(self) -> None:
        GRAPH_IN_FLIGHT.inc()

    def finished(self, function: str, statements: int, seconds: float) -> None:
        GRAPH_IN_FLIGHT.dec()
        CYPHER_TRIPS.labels(function).inc(statements)
        CYPHER_SECONDS.labels(function).observe(seconds)
