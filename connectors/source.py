"""A source: one configured connector wrapped in the shared cache, coalescing and resilience, with metrics.

`Source.fetch(keys)` is what the rest of the hub calls. For each key it returns a `FetchResult`, never
raising for an upstream fault. The path of one fetch:

1. **Coalesce.** A key already being resolved by an earlier call joins that work instead of starting its
   own (single-flight, per process): 100 concurrent asks for one key make one cache read and at most one
   upstream call. The work runs in its own task, so a caller that gives up does not cancel it for others.
2. **Cache.** Fresh entries answer at once. Entries past their TTL but within `max_staleness` are either
   refetched and served (marked stale, with the error code) only if the upstream fails (`on_error`), or
   served at once, marked stale, while one background refresh runs (`background`).
3. **Batch.** Misses are split into chunks of the kind's `max_batch_size`: one upstream call per chunk.
4. **Guard each call.** Total time budget (`timeout.total`) → bulkhead slot → per attempt: rate limit →
   breaker admission → `timeout.attempt` (never past the budget) → the kind's `fetch_many`; retried by
   tenacity for retryable faults of idempotent kinds (see `connectors.resilience`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from connectors.cache import CachedRecord, ConnectorCache, RecordCache
from connectors.contract import Connector, ConnectorConfig, FetchError, FetchResult, Outcome, Provenance
from connectors.errors import BadResponse, ErrorCode, InvalidKey, Rejected, UpstreamError, UpstreamTimeout
from connectors.metrics import ConnectorMeter
from connectors.resilience import Bulkhead, CircuitBreaker, RateLimiter, retrying
from connectors.stats import ConnectorStats, StatsSnapshot
from connectors.switches import Switch, Switches, SwitchesUnavailable

__all__ = ["MAX_KEY_LENGTH", "Source"]

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 256
# Seconds kept back from the last attempt so it, not the fetch budget, times out first. If both timers
# fired in one loop iteration (a busy machine), the attempt would see a cancellation, not a timeout, and the
# breaker would get no verdict: so the margin is a tenth of the budget, up to 50 ms.
_BUDGET_MARGIN = 0.05
_BUDGET_MARGIN_SHARE = 0.1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_Loaded = tuple[Outcome, datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Source:
    """One connector instance with its cache, coalescing, breaker, bulkhead, rate limit and stats."""

    def __init__(
        self,
        connector: Connector,
        *,
        cache: RecordCache | None = None,
        switches: Switches | None = None,
        blocked: str | None = None,
    ) -> None:
        self.connector = connector
        self.name = connector.name
        self.config: ConnectorConfig[Any] = connector.config
        # On/off: the YAML's `enabled`, unless a steward's switch (shared through Redis) says otherwise.
        # ``blocked`` says why the source cannot run at all (its secrets are missing): then it stays off.
        self.switches = switches
        self.blocked = blocked
        self.switch: Switch | None = None
        self.switch_errors = 0
        self._switch_read: asyncio.Future[Switch | None] | None = None
        self.breaker = CircuitBreaker.from_policy(self.config.breaker)
        self.bulkhead = Bulkhead.from_policy(self.config.bulkhead)
        self.limiter = RateLimiter.from_policy(self.config.rate_limit) if self.config.rate_limit else None
        self.stats = ConnectorStats(meter=ConnectorMeter.of(self.name))
        self.breaker.on_change = self.stats.meter.breaker_state if self.stats.meter else None
        policy = self.config.cache
        self.cache: ConnectorCache | None = (
            cache.for_connector(self.name, connector.fields, retain=policy.ttl + policy.max_staleness)
            if cache is not None and policy.enabled
            else None
        )
        self._inflight: dict[str, asyncio.Future[FetchResult[Any]]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- public -----------------------------------------------------------------------------------------

    @property
    def fields(self) -> type[BaseModel]:
        return self.connector.fields

    @property
    def enabled(self) -> bool:
        """On or off as last known here (`is_enabled` reads the shared switch first)."""
        if self.blocked is not None:
            return False
        return self.switch.enabled if self.switch is not None else self.config.enabled

    async def is_enabled(self) -> bool:
        """On or off now, after reading the shared switch (concurrent callers share one read)."""
        if self.switches is not None:
            read = self._switch_read
            if read is None or read.done():
                read = self._switch_read = asyncio.ensure_future(self._read_switch())
            await asyncio.shield(read)
        return self.enabled

    async def _read_switch(self) -> Switch | None:
        assert self.switches is not None
        try:
            self.switch = await self.switches.get(self.name)
        except SwitchesUnavailable:
            self.switch_errors += 1
            log.warning("connector %s: switch unreadable, keeping the last known state", self.name)
        return self.switch

    async def set_enabled(self, enabled: bool, *, by: str, reason: str | None = None) -> Switch:
        """Switch the source on or off for every replica (Redis); raises `SwitchesUnavailable`."""
        if self.switches is not None:
            self.switch = await self.switches.set(self.name, enabled, by=by, reason=reason)
        else:
            self.switch = Switch(enabled, _now(), by, reason)
        log.info("connector %s %s by a steward", self.name, "enabled" if enabled else "disabled")
        return self.switch

    async def probe(self, key: str) -> tuple[FetchResult[Any], float]:
        """A live upstream call for one key, past the cache (a steward's test), and its latency in seconds.

        The whole resilience policy applies (breaker, bulkhead, timeouts, retries); the answer is stored.
        """
        [key] = _unique_keys([key])
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome, fetched_at = (await self._load([key]))[key]
        elapsed = loop.time() - started
        if isinstance(outcome, UpstreamError):
            return self._error(key, outcome.code, str(outcome)), elapsed
        return self._found(key, outcome, fetched_at), elapsed

    async def fetch(self, keys: Iterable[str]) -> dict[str, FetchResult[Any]]:
        """A result for every distinct key, in first-seen order. Raises only `InvalidKey` (a caller's bug)."""
        wanted = _unique_keys(keys)
        self.stats.fetch(len(wanted))
        if not await self.is_enabled():
            return {
                k: self._error(k, ErrorCode.CONNECTOR_DISABLED, f"connector {self.name} is disabled") for k in wanted
            }
        if self._closed:
            return {k: self._error(k, ErrorCode.CONNECTOR_UNAVAILABLE, "the hub is shutting down") for k in wanted}
        loop = asyncio.get_running_loop()
        waiting: dict[str, asyncio.Future[FetchResult[Any]]] = {}
        owned: dict[str, asyncio.Future[FetchResult[Any]]] = {}
        for key in wanted:
            future = self._inflight.get(key)
            if future is None:
                future = self._inflight[key] = owned[key] = loop.create_future()
            else:
                self.stats.coalesce()
            waiting[key] = future
        if owned:
            self._spawn(self._resolve(owned))
        # shield: a caller cancelled mid-wait must not cancel the shared future others wait on
        results = await asyncio.gather(*(asyncio.shield(f) for f in waiting.values()))
        return dict(zip(waiting, results, strict=True))

    async def fetch_one(self, key: str) -> FetchResult[Any]:
        return (await self.fetch([key]))[key]

    async def forget(self, keys: Iterable[str]) -> int:
        """Drop cached records for ``keys`` (consent revoked, record corrected); how many there were.

        Raises `CacheUnavailable` if Redis cannot confirm the purge.
        """
        if self.cache is None:
            return 0
        return await self.cache.delete_many(_unique_keys(keys))

    async def cached(self, keys: Iterable[str]) -> dict[str, CachedRecord]:
        """What the cache holds for ``keys``, without calling the upstream (a subject access export)."""
        if self.cache is None:
            return {}
        return await self.cache.get_many(_unique_keys(keys))

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot(
            connector=self.name,
            enabled=self.enabled,
            breaker_state=self.breaker.state.value,
            breaker_opened=self.breaker.times_opened,
            cache_errors=self.cache.errors if self.cache is not None else 0,
            in_flight=self.bulkhead.in_flight,
            waiting=self.bulkhead.waiting,
        )

    async def aclose(self) -> None:
        """Stop background work (waiters get CONNECTOR_UNAVAILABLE) and release the connector."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.connector.aclose()

    # -- resolution -------------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"connector:{self.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, futures: dict[str, asyncio.Future[FetchResult[Any]]]) -> None:
        try:
            await self._resolve_keys(list(futures), futures)
        except asyncio.CancelledError:
            self._publish(
                futures,
                {k: self._error(k, ErrorCode.CONNECTOR_UNAVAILABLE, "the hub is shutting down") for k in futures},
            )
            raise
        except Exception:  # a bug here must not leave waiters hanging
            log.exception("connector %s: unexpected error while resolving keys", self.name)
            self._publish(
                futures,
                {k: self._error(k, ErrorCode.CONNECTOR_UNAVAILABLE, "internal connector error") for k in futures},
            )

    async def _resolve_keys(self, keys: list[str], futures: Mapping[str, asyncio.Future[FetchResult[Any]]]) -> None:
        policy = self.config.cache
        cached = await self.cache.get_many(keys) if self.cache is not None else {}
        now = _now()
        ready: dict[str, FetchResult[Any]] = {}
        stale = {}
        to_fetch: list[str] = []
        refresh: list[str] = []
        for key in keys:
            entry = cached.get(key)
            age = entry.age(now) if entry is not None else 0.0
            if entry is None or age > policy.ttl + policy.max_staleness:  # older: another replica's clock
                if self.cache is not None:
                    self.stats.cache_miss()
                to_fetch.append(key)
            elif age <= policy.ttl:
                self.stats.cache_hit()
                ready[key] = self._found(key, entry.value, entry.fetched_at, cached=True)
            elif policy.revalidate == "background":
                self.stats.stale()
                ready[key] = self._found(key, entry.value, entry.fetched_at, cached=True, stale=True)
                refresh.append(key)
            else:
                self.stats.cache_miss()
                stale[key] = entry
                to_fetch.append(key)
        self._publish(futures, ready)
        if refresh:
            self._spawn(self._refresh(refresh))
        if not to_fetch:
            return
        loaded = await self._load(to_fetch)
        results: dict[str, FetchResult[Any]] = {}
        for key in to_fetch:
            outcome, fetched_at = loaded[key]
            if not isinstance(outcome, UpstreamError):
                results[key] = self._found(key, outcome, fetched_at)
                continue
            fallback = stale.get(key)
            if fallback is None:
                results[key] = self._error(key, outcome.code, str(outcome))
            else:
                self.stats.stale()
                provenance = Provenance(self.name, fallback.fetched_at, stale=True, cached=True)
                error = FetchError(outcome.code, f"{outcome} (a stale value was served)")
                results[key] = FetchResult(self.name, key, fallback.value, provenance, error)
        self._publish(futures, results)

    async def _refresh(self, keys: list[str]) -> None:
        keys = [k for k in keys if k not in self._refreshing]
        if not keys:
            return
        self._refreshing.update(keys)
        try:
            await self._load(keys)  # stores what it gets; failures are already counted
        except Exception:
            log.exception("connector %s: background refresh failed", self.name)
        finally:
            self._refreshing.difference_update(keys)

    def _publish(
        self, futures: Mapping[str, asyncio.Future[FetchResult[Any]]], results: Mapping[str, FetchResult[Any]]
    ) -> None:
        for key, result in results.items():
            future = futures[key]
            if self._inflight.get(key) is future:
                del self._inflight[key]
            if not future.done():
                future.set_result(result)

    # -- upstream ---------------------------------------------------------------------------------------

    async def _load(self, keys: Sequence[str]) -> dict[str, _Loaded]:
        size = max(1, self.connector.max_batch_size)
        chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
        merged: dict[str, _Loaded] = {}
        for part in await asyncio.gather(*(self._call(chunk) for chunk in chunks)):
            merged.update(part)
        return merged

    async def _call(self, chunk: Sequence[str]) -> dict[str, _Loaded]:
        """One upstream call for ``chunk`` under the whole policy; faults come back as values."""
        self.stats.upstream_call()
        loop = asyncio.get_running_loop()
        budget = self.config.timeout.total
        deadline = loop.time() + budget
        error: UpstreamError
        try:
            async with asyncio.timeout_at(deadline), self.bulkhead.slot():
                controller = retrying(
                    self.config.retry,
                    idempotent=self.connector.idempotent,
                    remaining=lambda: deadline - loop.time(),
                    on_retry=self._count_retry,
                )
                raw: Mapping[str, Outcome] = await controller(self._attempt, chunk, deadline)
        except TimeoutError:
            error = UpstreamTimeout(f"no answer within the fetch budget of {budget:g} s")
        except UpstreamError as exc:
            error = exc
        else:
            fetched_at = _now()
            outcomes = self._check(chunk, raw)
            if self.cache is not None:
                found = {k: v for k, v in outcomes.items() if not isinstance(v, UpstreamError)}
                await self.cache.put_many(found, fetched_at)
            for outcome in outcomes.values():
                if isinstance(outcome, UpstreamError):
                    self.stats.failed(outcome.code)
            self.stats.call_succeeded(fetched_at)
            return {k: (v, fetched_at) for k, v in outcomes.items()}
        self.stats.failed(error.code, rejected=isinstance(error, Rejected))
        failed_at = _now()
        self.stats.call_failed(error.code, str(error), failed_at)
        return {k: (error, failed_at) for k in chunk}

    async def _attempt(self, chunk: Sequence[str], deadline: float) -> Mapping[str, Outcome]:
        loop = asyncio.get_running_loop()
        if self.limiter is not None:
            self.breaker.check()  # an open breaker fails fast, without spending rate capacity
            await self.limiter.acquire()
        started = loop.time()
        # The attempt ends just before the fetch's budget does, so a hung upstream is seen by the breaker
        # as a timed-out attempt (a failure) rather than as a cancelled one (no verdict).
        margin = min(_BUDGET_MARGIN, _BUDGET_MARGIN_SHARE * self.config.timeout.total)
        ends = min(started + self.config.timeout.attempt, deadline - margin)
        if ends <= started:
            raise UpstreamTimeout("the fetch budget ran out before the upstream could be called")
        with self.breaker.guard():
            self.stats.attempt()
            try:
                async with asyncio.timeout_at(ends):
                    return await self.connector.fetch_many(chunk)
            except TimeoutError as exc:
                raise UpstreamTimeout(f"no answer within {ends - started:.3g} s") from exc
            except UpstreamError:
                raise
            except Exception as exc:  # the kind's parser met an answer it did not expect, or a bug
                log.warning("connector %s: fetch_many raised %s", self.name, type(exc).__name__, exc_info=True)
                raise BadResponse("the connector could not read the upstream's answer") from exc
            finally:
                self.stats.took(loop.time() - started)

    def _check(self, chunk: Sequence[str], raw: object) -> dict[str, Outcome]:
        """Hold the kind to its contract: a mapping of key to a `fields` record, None or a per-key fault."""
        fields = self.connector.fields
        if not isinstance(raw, Mapping):
            broken = BadResponse(f"connector returned a {type(raw).__name__}, not a mapping of keys to records")
            return dict.fromkeys(chunk, broken)
        out: dict[str, Outcome] = {}
        for key in chunk:
            value = raw.get(key)
            if value is None or isinstance(value, UpstreamError | fields):
                out[key] = value
            else:
                out[key] = BadResponse(f"connector returned a {type(value).__name__}, not a {fields.__name__}")
        return out

    def _count_retry(self) -> None:
        self.stats.retry()

    # -- results ----------------------------------------------------------------------------------------

    def _found(
        self, key: str, value: BaseModel | None, fetched_at: datetime, *, cached: bool = False, stale: bool = False
    ) -> FetchResult[Any]:
        return FetchResult(self.name, key, value, Provenance(self.name, fetched_at, stale=stale, cached=cached))

    def _error(self, key: str, code: ErrorCode, message: str) -> FetchResult[Any]:
        return FetchResult(self.name, key, None, None, FetchError(code, message))


def _unique_keys(keys: Iterable[str]) -> list[str]:
    if isinstance(keys, str):
        raise InvalidKey("fetch takes an iterable of keys, not one string")
    unique = list(dict.fromkeys(keys))
    for key in unique:
        if not isinstance(key, str) or not key.strip():
            raise InvalidKey(f"a match key must be a non-empty string, not {key!r}")
        if len(key) > MAX_KEY_LENGTH or _CONTROL.search(key):
            raise InvalidKey(f"a match key must be at most {MAX_KEY_LENGTH} printable characters")
    return unique
