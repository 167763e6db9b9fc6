"""Fixtures for operations tests: the hub as real processes (`hub serve`) against the session's servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ISSUER
from ops_support import HubProcess, StartHub, free_port

from hub.embedded import ArcadeDBServer, ValkeyServer


@pytest.fixture
def hub_env(servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], tmp_path: Path) -> dict[str, str]:
    """Environment for a `hub serve` that uses the session's graph and cache (nothing embedded started)."""
    graph_server, cache_server = servers
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "NEO4J_", "OTEL_", "PROMETHEUS_"))}
    env.update(
        HUB_DATA_DIR=str(tmp_path / "data"),
        HUB_AUTH_JWKS_FILE=str(keys[1]),
        HUB_AUTH_ISSUER=ISSUER,
        HUB_DEMO_CONNECTORS="false",
        HUB_GRAPH_CONNECTION_TIMEOUT="1",
        HUB_GRAPH_MAX_RETRY_TIME="1",
        NEO4J_URI=graph_server.bolt_uri,
        NEO4J_USER=graph_server.user,
        NEO4J_PASSWORD=graph_server.password,
        NEO4J_DATABASE=graph_server.database,
        REDIS_URL=cache_server.url,
    )
    return env


@pytest.fixture
def start_hub(hub_env: dict[str, str], tmp_path: Path) -> Iterator[StartHub]:
    """start_hub(*args, env={...}) -> a ready HubProcess; every one started is stopped at the end."""
    started: list[HubProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> HubProcess:
        n = len(started)
        hub = HubProcess(list(args), {**hub_env, **(env or {})}, tmp_path / f"hub-{n}.log", free_port())
        started.append(hub)
        if ready:
            hub.wait_ready()
        return hub

    yield start
    for hub in started:
        hub.stop()
