"""Resolve the graph and cache endpoints: the configured ones, or embedded child processes.

`NEO4J_URI` / `REDIS_URL` set: nothing is started. Unset: ArcadeDB (Bolt) and valkey-server are
started under the data directory and stopped when the block exits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from pydantic import SecretStr

from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.settings import Settings


@contextmanager
def running_services(settings: Settings, *, graph: bool = True, cache: bool = True) -> Iterator[Settings]:
    """Yield settings whose `neo4j_uri` / `redis_url` point at live servers."""
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
        yield settings.model_copy(update=updates)
