"""Per-principal request rate limits shared by every replica (fixed windows in Redis).

One pipelined INCR + EXPIRE per request. If Redis is unreachable the limiter lets requests
through and logs it: an outage of the cache must not take the hub down with it (DESIGN.md,
"the services must not go down"); the outage is visible on /readyz.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis.asyncio as aioredis

from hub.errors import Refusal

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, limit: int, window: int = 60) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window

    async def check(self, subject: str) -> None:
        """Raise a 429 `Refusal` with Retry-After once `subject` exceeds its limit in this window."""
        if self.limit <= 0:
            return
        now = time.time()
        window_start = int(now // self.window) * self.window
        # Hash the subject: keys are visible to anyone with cache access; subjects need not be.
        key = f"hub:rl:{hashlib.sha256(subject.encode()).hexdigest()[:32]}:{window_start}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window + 1)
                count, _ = await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("rate limiter unavailable (%s): request allowed", type(exc).__name__)
            return
        if count > self.limit:
            retry_after = max(1, int(window_start + self.window - now + 0.999))
            raise Refusal(
                f"rate limit of {self.limit} requests per {self.window} s exceeded; retry in {retry_after} s",
                "RATE_LIMITED",
                429,
                {"Retry-After": str(retry_after)},
            )
