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
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import neo4j
from neo4j import AsyncGraphDatabase, AsyncManagedTransaction
from neo4j.exceptions import (
    AuthError,
    ClientError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph.errors import GraphBusy, GraphUnavailable

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

    __slots__ = ("_tx", "_stats", "sent", "_instrument", "_function")

    def __init__(
        self, tx: AsyncManagedTransaction, stats: GraphStats, instrument: Instrument | None = None, function: str = ""
    ) -> None:
        self._tx = tx
        self._stats = stats
        self.sent = 0  # statements sent by this transaction (retries get a new Tx)
        self._instrument = instrument
        self._function = function

    async def fetch(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one parameterised statement and return its records as dicts."""
        self._stats.round_trips += 1
        self.sent += 1
        # The instrument sees the statement text (a trace span), never the parameter values.
        with self._instrument.statement(self._function, query) if self._instrument else nullcontext():
            result = await self._tx.run(query, params or {})
            return [record.data() async for record in result]

    async def fetch_one(self, query: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = await self.fetch(query, params)
        return rows[0] if rows else None


Work = Callable[[Tx], Awaitable[T]]


class Instrument(Protocol):
    """Receives timings of graph transactions (the hub turns them into metrics and trace spans)."""

    def started(self) -> None: ...

    def finished(self, function: str, statements: int, seconds: float) -> None: ...

    def statement(self, function: str, query: str) -> AbstractContextManager[object]:
        """Wraps one statement sent by `function` (text only: parameters never reach an instrument)."""
        ...

    def batch(self, loader: str, keys: int) -> AbstractContextManager[object]:
        """Wraps one DataLoader batch of `keys` keys (schema.loaders reports them here)."""
        ...


def work_label(work: Callable[..., object]) -> str:
    """'person._get_by' for a transaction function defined inside graph/person.py's `_get_by`."""
    module = getattr(work, "__module__", "") or ""
    qualname = getattr(work, "__qualname__", "work").split(".<locals>")[0]
    return f"{module.removeprefix('graph.')}.{qualname}"


class Graph:
    """The hub's handle on the graph server: one per process, shared by every request."""

    # A connection the server no longer accepts (seen on ArcadeDB after a restart: "credentials of this
    # connection are no longer valid", "BEGIN not expected in state: AUTHENTICATION") can stay in the
    # driver's pool; the driver is then replaced, at most this often, so the hub recovers by itself.
    RENEW_EVERY = 10.0
    _BROKEN_CONNECTION = "Neo.ClientError.Request.Invalid"

    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        database: str | None,
        factory: Callable[[], neo4j.AsyncDriver] | None = None,
    ) -> None:
        self.driver = driver
        self.database = database
        self.stats = GraphStats()
        self.instrument: Instrument | None = None
        self._factory = factory
        self._renewed = time.monotonic()
        self._retired: set[asyncio.Task[None]] = set()
        self.max_retry_time = 5.0  # seconds, as the driver's managed transactions (set by `connect`)

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

        def factory() -> neo4j.AsyncDriver:
            return AsyncGraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=connection_timeout,
                connection_acquisition_timeout=connection_timeout + max_transaction_retry_time,
                max_transaction_retry_time=max_transaction_retry_time,
                max_connection_pool_size=max_connection_pool_size,
                keep_alive=True,
            )

        graph = cls(factory(), database or None, factory)
        graph.max_retry_time = max_transaction_retry_time
        return graph

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        await asyncio.gather(*self._retired, return_exceptions=True)
        await self.driver.close()

    def _renew(self) -> None:
        """Swap in a fresh driver (new pool); the old one closes once its transactions had time to end."""
        if self._factory is None or time.monotonic() - self._renewed < self.RENEW_EVERY:
            return
        self._renewed = time.monotonic()
        old, self.driver = self.driver, self._factory()
        log.warning("graph: connections in a bad state; driver replaced")

        async def retire() -> None:
            try:
                await asyncio.sleep(self.RENEW_EVERY)
            finally:
                await old.close()

        task = asyncio.get_running_loop().create_task(retire())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def read(self, work: Work[T]) -> T:
        return await self._run(work, write=False)

    async def write(self, work: Work[T]) -> T:
        return await self._run(work, write=True)

    async def _run(self, work: Work[T], *, write: bool) -> T:
        stats = self.stats
        instrument = self.instrument
        sent = 0
        started = time.perf_counter()
        function = work_label(work)
        if instrument is not None:
            instrument.started()

        async def tx_fn(tx: AsyncManagedTransaction) -> T:
            nonlocal sent
            stats.transactions += 1
            wrapped = Tx(tx, stats, instrument, function)
            try:
                return await work(wrapped)
            finally:
                sent += wrapped.sent

        try:
            return await self._session_run(tx_fn, write)
        finally:
            if instrument is not None:
                instrument.finished(function, sent, time.perf_counter() - started)

    async def read_statement(
        self, query: str, params: Mapping[str, Any] | None = None, *, label: str = "read_statement"
    ) -> list[dict[str, Any]]:
        """One read-only statement in an auto-commit transaction: one round trip, where a managed
        transaction adds a COMMIT round trip (about 7% of the hub's CPU per request under load, measured
        with py-spy). For single statements that read only (nothing to roll back); the session is a READ
        session, so a Neo4j cluster routes it to a follower or read replica. Retryable failures are retried
        for `max_retry_time`, as a managed transaction would; then GRAPH_UNAVAILABLE / GRAPH_BUSY.
        `label` names the caller in metrics, as `work_label` does for transaction functions."""
        stats = self.stats
        instrument = self.instrument
        started = time.perf_counter()
        if instrument is not None:
            instrument.started()
        stats.transactions += 1
        stats.round_trips += 1

        async def once() -> list[dict[str, Any]]:
            async with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
                # The instrument sees the statement text (a trace span), never the parameter values.
                with instrument.statement(label, query) if instrument is not None else nullcontext():
                    result = await session.run(query, params or {})
                    return [record.data() async for record in result]

        async def run() -> list[dict[str, Any]]:
            # What a managed transaction would retry (a connection refused or dropped under a burst, a
            # transient error) is retried here too, with jittered backoff, for as long as it would be:
            # a read changes nothing, so running it again is always safe.
            # At least one retry, even past the budget: a burst of requests opening connections at once
            # can make a connect time out (measured: 100 concurrent requests with a 1 s connect timeout),
            # and by the retry the pool holds the connections the burst opened.
            deadline = time.monotonic() + self.max_retry_time
            delay, attempt = 0.02, 0
            while True:
                try:
                    return await once()
                except (Neo4jError, DriverError) as exc:
                    attempt += 1
                    if not exc.is_retryable() or (attempt > 1 and time.monotonic() + delay > deadline):
                        raise
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

        try:
            return await self._mapped(run())
        finally:
            if instrument is not None:
                instrument.finished(label, 1, time.perf_counter() - started)

    async def _session_run(self, tx_fn: Callable[[AsyncManagedTransaction], Awaitable[T]], write: bool) -> T:
        async def run() -> T:
            async with self.driver.session(database=self.database) as session:
                if write:
                    return await session.execute_write(tx_fn)
                return await session.execute_read(tx_fn)

        return await self._mapped(run())

    async def _mapped(self, work: Awaitable[T]) -> T:
        """Await `work`, turning driver failures into the graph package's errors."""
        try:
            return await work
        except (TimeoutError, ServiceUnavailable, SessionExpired, OSError) as exc:
            log.warning("graph unavailable: %s", type(exc).__name__)
            raise GraphUnavailable() from exc
        except TransientError as exc:
            # The driver retried deadlocks and conflicts for max_transaction_retry_time and gave up.
            log.warning("graph busy: %s", exc.code)
            raise GraphBusy() from exc
        except AuthError as exc:
            log.error("graph refused the hub's credentials")
            self._renew()
            raise GraphUnavailable("The person graph refused the hub's credentials.") from exc
        except ClientError as exc:
            if exc.code != self._BROKEN_CONNECTION:
                raise
            log.warning("graph connection in a bad state: %s", exc.code)
            self._renew()
            raise GraphUnavailable() from exc
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
