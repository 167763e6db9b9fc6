"""Redis cache of connector records, with the age information stale-while-revalidate needs.

Why not cashews: it is configured through a global `cache.setup(url)` that opens its own backend, while
the hub hands one `redis.asyncio` client down from its composition root; and what we need is narrow —
batched reads (`MGET`) and writes (one pipeline) of records with the time the upstream produced them, so
freshness and staleness can be judged by the reader's policy. That is this module.

Entry layout: ``<prefix>:<connector>:<fingerprint>:<sha256(key)>`` → ``b"<fetched_at epoch>\\n<record JSON|null>"``
with a Redis expiry of ttl + max staleness (after which nothing may be served). The fingerprint is a hash
of the record model's JSON schema, so changing a connector's fields never reads old-shaped entries. Keys
are hashed so personal identifiers (a NINO) never appear in Redis key names.

The cache is an optimisation, never a dependency: a Redis error or a slow Redis counts as a miss (and in
`errors`), it is logged, and the fetch goes on to the upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from connectors.errors import CacheUnavailable

__all__ = ["CachedRecord", "ConnectorCache", "RecordCache"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "citizen-hub:connector"


@dataclass(frozen=True, slots=True)
class CachedRecord:
    value: BaseModel | None  # None: the upstream said it has no record (cached too, to spare it)
    fetched_at: datetime

    def age(self, now: datetime) -> float:
        return (now - self.fetched_at).total_seconds()


class RecordCache:
    """Factory of per-connector caches over one shared client (the composition root owns and closes it)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, timeout: float = 0.5) -> None:
        self.redis = redis
        self.prefix = prefix
        self.timeout = timeout

    def for_connector(self, connector: str, fields: type[BaseModel], *, retain: float) -> ConnectorCache:
        return ConnectorCache(
            self.redis, f"{self.prefix}:{connector}:{fingerprint(fields)}", fields, retain, self.timeout
        )


class ConnectorCache:
    def __init__(
        self, redis: aioredis.Redis, namespace: str, fields: type[BaseModel], retain: float, timeout: float
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.fields = fields
        self.retain_ms = max(1, int(retain * 1000))  # physical expiry: ttl + max staleness
        self.timeout = timeout
        self.errors = 0

    def key(self, key: str) -> str:
        return f"{self.namespace}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"

    async def get_many(self, keys: Sequence[str]) -> dict[str, CachedRecord]:
        if not keys:
            return {}
        try:
            async with asyncio.timeout(self.timeout):
                raw = await self.redis.mget([self.key(k) for k in keys])
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("read", exc)
            return {}
        found: dict[str, CachedRecord] = {}
        for key, blob in zip(keys, raw, strict=True):
            if blob is None:
                continue
            entry = self._decode(blob)
            if entry is not None:
                found[key] = entry
        return found

    async def put_many(self, records: Mapping[str, BaseModel | None], fetched_at: datetime) -> None:
        if not records:
            return
        stamp = f"{fetched_at.timestamp():.6f}\n".encode()
        try:
            async with asyncio.timeout(self.timeout):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, value in records.items():
                        body = value.model_dump_json().encode() if value is not None else b"null"
                        pipe.set(self.key(key), stamp + body, px=self.retain_ms)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("write", exc)

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Forget these keys (consent revoked, record corrected); how many entries existed.

        Unlike reads and writes this raises (`CacheUnavailable`): a purge that did not happen must be known.
        """
        names = [self.key(k) for k in keys]
        if not names:
            return 0
        try:
            async with asyncio.timeout(self.timeout):
                return int(await self.redis.delete(*names))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("delete", exc)
            raise CacheUnavailable(f"could not delete cached records in {self.namespace}") from exc

    def _decode(self, blob: bytes | str) -> CachedRecord | None:
        if isinstance(blob, str):  # a client made with decode_responses=True
            blob = blob.encode()
        try:
            stamp, _, body = blob.partition(b"\n")
            fetched_at = datetime.fromtimestamp(float(stamp), UTC)
            value = None if body == b"null" else self.fields.model_validate_json(body)
        except (ValueError, ValidationError):
            # Written by an incompatible version, or corrupted: a miss, and the next write replaces it.
            self.errors += 1
            log.warning("ignoring an undecodable cache entry in %s", self.namespace)
            return None
        return CachedRecord(value, fetched_at)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        log.warning("connector cache %s failed for %s: %s", what, self.namespace, type(exc).__name__)


def fingerprint(fields: type[BaseModel]) -> str:
    schema = orjson.dumps(fields.model_json_schema(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(schema).hexdigest()[:12]
