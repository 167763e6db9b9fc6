"""Prometheus metrics (`prometheus-client`), multi-process aware.

Labels are bounded by construction: operation names are sanitised and capped, error codes and
repository functions come from code, never from raw query text or personal data.
With `PROMETHEUS_MULTIPROC_DIR` set (several workers), `/metrics` aggregates every worker's files.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from hub import tracing

log = logging.getLogger(__name__)

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
SUBSCRIPTIONS = Gauge(
    "hub_active_subscriptions", "GraphQL subscriptions being served (all workers)", multiprocess_mode="livesum"
)
WEBSOCKETS = Gauge("hub_websocket_connections", "Open GraphQL WebSocket connections", multiprocess_mode="livesum")
GRAPH_POOL = Gauge(
    "hub_graph_pool_connections",
    "Graph driver connections by state (in_use, idle), sampled every second",
    ["state"],
    multiprocess_mode="livesum",
)
REDIS_POOL = Gauge(
    "hub_redis_pool_connections",
    "Redis pool connections by state (in_use, idle), sampled every second",
    ["state"],
    multiprocess_mode="livesum",
)
WORKERS = Gauge("hub_worker_up", "1 per live worker process (label pid)", multiprocess_mode="liveall")

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


class GraphInstrument(tracing.TracingInstrument):
    """graph.driver.Instrument: transaction timings and batch sizes into metrics, statements into spans."""

    def started(self) -> None:
        GRAPH_IN_FLIGHT.inc()

    def finished(self, function: str, statements: int, seconds: float) -> None:
        GRAPH_IN_FLIGHT.dec()
        CYPHER_TRIPS.labels(function).inc(statements)
        CYPHER_SECONDS.labels(function).observe(seconds)

    def batch(self, loader: str, keys: int) -> AbstractContextManager[object]:
        LOADER_BATCH.labels(loader).observe(keys)
        return tracing.batch_span(loader, keys)


def _graph_pool(graph: Any) -> tuple[int, int] | None:
    """(in use, idle) connections of the neo4j driver's pool (driver internals: None if they change)."""
    connections = getattr(getattr(graph.driver, "_pool", None), "connections", None)
    if not isinstance(connections, dict):
        return None
    every = [c for queue in list(connections.values()) for c in list(queue)]
    in_use = sum(1 for c in every if getattr(c, "in_use", False))
    return in_use, len(every) - in_use


def _redis_pool(redis: Any) -> tuple[int, int] | None:
    pool = getattr(redis, "connection_pool", None)
    in_use = getattr(pool, "_in_use_connections", None)
    idle = getattr(pool, "_available_connections", None)
    if in_use is None or idle is None:
        return None
    return len(in_use), sum(1 for c in list(idle) if c is not None and getattr(c, "is_connected", True))


def sample_pools(graph: Any, redis: Any) -> None:
    for gauge, sampled in ((GRAPH_POOL, _graph_pool(graph)), (REDIS_POOL, _redis_pool(redis))):
        if sampled is not None:
            gauge.labels("in_use").set(sampled[0])
            gauge.labels("idle").set(sampled[1])


@asynccontextmanager
async def pool_sampler(graph: Any, redis: Any, every: float = 1.0) -> AsyncIterator[None]:
    """Sample the graph driver's and the Redis client's pools while the app runs; mark this worker up."""

    async def loop() -> None:
        while True:
            try:
                sample_pools(graph, redis)
            except Exception:  # a sampler must never take the app down
                log.exception("pool sampling failed")
            await asyncio.sleep(every)

    WORKERS.set(1)
    task = asyncio.create_task(loop(), name="hub-pool-sampler")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
