"""Per-connector Prometheus metrics move with what really happened upstream (counted at the sandbox), and the
hub's /metrics exposes them. Labels are the connector name only."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from prometheus_client import REGISTRY

from connectors.resilience import BreakerState
from connectors.sandbox import Fault, SocialSandbox
from hub.metrics import render


def value(metric: str, connector: str) -> float:
    return REGISTRY.get_sample_value(metric, {"connector": connector}) or 0.0


async def test_metrics_count_calls_hits_coalescing_errors_latency_and_breaker(
    make_source: Any, sandbox: SocialSandbox
) -> None:
    name = f"metrics_{secrets.token_hex(3)}"
    source = make_source(name=name, breaker={"failure_threshold": 2, "reset_timeout": 30}, retry={"attempts": 1})
    assert value("hub_connector_breaker_state", name) == 0

    await source.fetch(["a", "b"])  # cold: two misses, one batched upstream call
    await source.fetch(["a", "b"])  # cached
    await asyncio.gather(*(source.fetch_one("c") for _ in range(100)))  # one load, 99 joined it
    assert value("hub_connector_fetches_total", name) == 102
    assert value("hub_connector_cache_misses_total", name) == 3
    assert value("hub_connector_cache_hits_total", name) == 2
    assert value("hub_connector_coalesced_total", name) == 99
    assert value("hub_connector_upstream_calls_total", name) == sandbox.state.api_calls == 2
    assert value("hub_connector_upstream_duration_seconds_count", name) == 2

    sandbox.state.inject(Fault(mode="error_500"))
    for key in ("d", "e"):
        await source.fetch_one(key)
    assert value("hub_connector_errors_total", name) == 2
    assert source.breaker.state is BreakerState.OPEN and value("hub_connector_breaker_state", name) == 2
    await source.fetch_one("f")
    assert value("hub_connector_rejected_total", name) == 1

    text = render()[0].decode()
    assert f'hub_connector_coalesced_total{{connector="{name}"}} 99.0' in text
    labels = {line.split("{", 1)[1].split("}", 1)[0] for line in text.splitlines() if line.startswith("hub_connector_")}
    assert all(label.startswith("connector=") and label.count("=") <= 2 for label in labels), labels
