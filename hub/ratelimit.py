"""Per-principal request rate limits shared by every replica (fixed windows in Redis).

A round trip to Redis on every request costs the hub ~5% of its CPU (py-spy), so each process counts
locally and syncs with Redis in the background: the first request of a principal in a window reads the
shared count (INCR, one round trip); later ones add to a local count that a single background task
pushes (INCRBY) every `sync_interval` seconds, learning the other replicas' counts in the same reply.
Within one process the limit is exact; across replicas it can be exceeded by what the others admit
within one sync interval (50 ms by default), which a per-minute limit does not notice.

If Redis is unreachable the limiter lets requests through and logs it: an outage of the cache must not
take the hub down with it (DESIGN.md); the outage is visible on /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from hub.errors import Refusal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Window:
    start: int
    shared: int = 0  # the count in Redis when last synced (this process's pushed requests included)
    pending: int = 0  # requests counted here and not pushed yet


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, limit: int, window: int = 60, sync_interval: float = 0.05) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window
        self.sync_interval = sync_interval
        self._windows: dict[str, _Window] = {}
        self._sync: asyncio.Task[None] | None = None

    async def check(self, subject: str) -> None:
        """Raise a 429 `Refusal` with Retry-After once `subject` exceeds its limit in this window."""
        if self.limit <= 0:
            return
        now = time.time()
        window_start = int(now // self.window) * self.window
        # Hash the subject: keys are visible to anyone with cache access; subjects need not be.
        key = f"hub:rl:{hashlib.sha256(subject.encode()).hexdigest()[:32]}:{window_start}"
        known = self._windows.get(key)
        if known is None:
            self._windows[key] = known = _Window(window_start)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window + 1)
                    known.shared, _ = await pipe.execute()
            except (aioredis.RedisError, OSError) as exc:
                del self._windows[key]
                log.warning("rate limiter unavailable (%s): request allowed", type(exc).__name__)
                return
        else:
            known.pending += 1
            if self._sync is None or self._sync.done():
                self._sync = asyncio.create_task(self._push(), name="rate-limit-sync")
        if known.shared + known.pending > self.limit:
            retry_after = max(1, int(window_start + self.window - now + 0.999))
            raise Refusal(
                f"rate limit of {self.limit} requests per {self.window} s exceeded; retry in {retry_after} s",
                "RATE_LIMITED",
                429,
                {"Retry-After": str(retry_after)},
            )

    async def _push(self) -> None:
        """Push local counts to Redis until none are left; learn the shared counts from the replies."""
        while True:
            await asyncio.sleep(self.sync_interval)
            current = int(time.time() // self.window) * self.window
            for key in [k for k, w in self._windows.items() if w.start < current]:
                del self._windows[key]  # a finished window: its key expires in Redis by itself
            due = [(k, w, w.pending) for k, w in self._windows.items() if w.pending]
            if not due:
                return
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, _, n in due:
                        pipe.incrby(key, n)
                        pipe.expire(key, self.window + 1)
                    replies = await pipe.execute()
            except (aioredis.RedisError, OSError) as exc:
                # Forget the windows: the next request of each principal syncs again (or is allowed).
                log.warning("rate limiter unavailable (%s): local counts dropped", type(exc).__name__)
                self._windows.clear()
                return
            for (_, window, n), shared in zip(due, replies[::2], strict=True):
                window.pending -= n
                window.shared = int(shared)

    async def close(self) -> None:
        """Stop the background sync (counts not pushed yet are dropped: they only ever loosen a limit)."""
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
