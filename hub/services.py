"""Resolve the graph and cache endpoints: the configured ones, or embedded child processes.

`NEO4J_URI` / `REDIS_URL` set: nothing is started. Unset: ArcadeDB (Bolt) and valkey-server are
started under the data directory and stopped when the block exits. While they run, their endpoints
are kept in `<data dir>/endpoints.json`, so a second command on the same data directory (`hub seed`
or `hub token` beside a running `hub serve`) attaches to them instead of failing on the data lock.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from hub.connectors import DemoSandboxes
from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.settings import Settings


def _endpoints_path(settings: Settings) -> Path:
    return settings.data_dir / "endpoints.json"


def _answers(url: str) -> bool:
    parsed = urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


def _running(settings: Settings) -> dict[str, Any] | None:
    """The endpoints of embedded servers another hub process runs on this data dir, if they answer."""
    try:
        found = json.loads(_endpoints_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not all(_answers(found.get(k, "")) for k in ("neo4j_uri", "redis_url")):
        return None
    found["neo4j_password"] = SecretStr(ArcadeDBServer(settings.data_dir).password)
    return found


@contextmanager
def running_services(
    settings: Settings, *, graph: bool = True, cache: bool = True, demo: bool = False
) -> Iterator[Settings]:
    """Yield settings whose `neo4j_uri` / `redis_url` point at live servers.

    With ``demo`` (dev, `HUB_DEMO_CONNECTORS` on) the connectors' sandbox upstreams run beside them.
    """
    if not settings.neo4j_uri and not settings.redis_url:
        attached = _running(settings)
        if attached is not None:
            yield settings.model_copy(update=attached)
            return
    updates: dict[str, Any] = {}
    with ExitStack() as stack:
        if graph and not settings.neo4j_uri:
            server = ArcadeDBServer(
                settings.data_dir,
                bolt_port=settings.embedded_graph_bolt_port,
                http_port=settings.embedded_graph_http_port,
                heap=settings.embedded_graph_heap,
                ready_timeout=settings.embedded_ready_timeout,
            )
            stack.enter_context(server)
            updates.update(
                neo4j_uri=server.bolt_uri,
                neo4j_user=server.user,
                neo4j_password=SecretStr(server.password),
                neo4j_database=server.database,
            )
        if cache and not settings.redis_url:
            valkey = ValkeyServer(settings.data_dir, port=settings.embedded_cache_port)
            stack.enter_context(valkey)
            updates["redis_url"] = valkey.url
        if demo and settings.dev and settings.demo_connectors:
            stack.enter_context(DemoSandboxes(settings))  # the connectors' sandbox upstreams (issue 11)
        live = settings.model_copy(update=updates)
        if graph and cache and "neo4j_uri" in updates and "redis_url" in updates:
            path = _endpoints_path(settings)
            endpoints = {k: updates[k] for k in ("neo4j_uri", "neo4j_user", "neo4j_database", "redis_url")}
            path.write_text(json.dumps(endpoints), encoding="utf-8")
            stack.callback(path.unlink, missing_ok=True)
        yield live
