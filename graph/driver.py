"""Async driver lifecycle and the one door every Cypher statement goes through.

`Graph` owns a `neo4j.AsyncDriver`. Repositories hand it a transaction function; it runs that in a
managed transaction (`execute_read` / `execute_write`, which retry transient errors such as
deadlocks) and gives the function a `Tx`, whose `fetch` is the only place a statement is sent.
That is where round trips are counted, and where driver failures become `GraphUnavailable`.

The driver's defaults would block a request for about a minute while the server is down
(see shared PLATFORM.md); the timeouts here are explicit and small.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
from neo4j import AsyncGraphDatabase, AsyncManagedTransaction
from neo4j.exceptions import AuthError, DriverError, ServiceUnavailable, SessionExpired

from graph.errors import GraphUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

# One WARNING per retry and one ERROR per defunct connection would flood the logs during an outage;
# the hub reports the outage itself (readiness, GRAPH_UNAVAILABLE errors).
logging.getLogger("neo4j").setLevel(logging.CRITICAL)


@dataclass(slots=True)
class GraphStats:
    """Counters read by tests and benchmarks (and later by metrics)."""

    round_trips: int = 0
    transactions: int = 0


class Tx:
    """A managed transaction as repositories see it."""

    __slots__ = ("_tx", "_stats")

    def __init__(self, tx: AsyncManagedTransaction, stats: GraphStats) -> None:
        self._tx = tx
        self._stats = stats

    async def fetch(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one parameterised statement and return its records as dicts."""
        self._stats.round_trips += 1
        result = await self._tx.run(query, params or {})
        return [record.data() async for record in result]

    async def fetch_one(self, query: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = await self.fetch(query, params)
        return rows[0] if rows else None


Work = Callable[[Tx], Awaitable[T]]


class Graph:
    """The hub's handle on the graph server: one per process, shared by every request."""

    def __init__(self, driver: neo4j.AsyncDriver, database: str | None) -> None:
        self.driver = driver
        self.database = database
        self.stats = GraphStats()

    @classmethod
    def connect(
        cls,
        uri: str,
        user: str,
        password: str,
        database: str | None = None,
        *,
        connection_timeout: float = 2.0,
        max_transaction_retry_time: float = 5.0,
        max_connection_pool_size: int = 100,
    ) -> Graph:
        driver = AsyncGraphDatabase.driver(
            uri,
            auth=(user, password),
            connection_timeout=connection_timeout,
            connection_acquisition_timeout=connection_timeout + max_transaction_retry_time,
            max_transaction_retry_time=max_transaction_retry_time,
            max_connection_pool_size=max_connection_pool_size,
            keep_alive=True,
        )
        return cls(driver, database or None)

    async def close(self) -> None:
        await self.driver.close()

    async def read(self, work: Work[T]) -> T:
        return await self._run(work, write=False)

    async def write(self, work: Work[T]) -> T:
        return await self._run(work, write=True)

    async def _run(self, work: Work[T], *, write: bool) -> T:
        stats = self.stats

        async def tx_fn(tx: AsyncManagedTransaction) -> T:
            stats.transactions += 1
            return await work(Tx(tx, stats))

        try:
            async with self.driver.session(database=self.database) as session:
                if write:
                    return await session.execute_write(tx_fn)
                return await session.execute_read(tx_fn)
        except (TimeoutError, ServiceUnavailable, SessionExpired, OSError) as exc:
            log.warning("graph unavailable: %s", type(exc).__name__)
            raise GraphUnavailable() from exc
        except AuthError as exc:
            log.error("graph refused the hub's credentials")
            raise GraphUnavailable("The person graph refused the hub's credentials.") from exc
        except DriverError as exc:
            # Pool exhaustion and similar client-side failures: the graph is, for us, unavailable.
            log.warning("graph driver error: %s", type(exc).__name__)
            raise GraphUnavailable() from exc

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise `GraphUnavailable` unless a trivial statement completes within `timeout` seconds."""

        async def work(tx: Tx) -> None:
            await tx.fetch("RETURN 1 AS ok")

        try:
            await asyncio.wait_for(self.read(work), timeout)
        except TimeoutError as exc:
            raise GraphUnavailable() from exc
