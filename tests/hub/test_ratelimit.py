"""The rate limiter counts locally and syncs with Redis in the background: exact in one process, shared
across replicas within one sync interval, open when Redis is down."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.errors import Refusal
from hub.ratelimit import RateLimiter


async def statuses(limiter: RateLimiter, subject: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            await limiter.check(subject)
            out.append(200)
        except Refusal as refusal:
            out.append(refusal.status)
    return out


@pytest.fixture
async def cache(servers: tuple[ArcadeDBServer, ValkeyServer]) -> aioredis.Redis:
    client = aioredis.Redis.from_url(servers[1].url)
    yield client
    await client.aclose()


async def test_exact_within_one_process(cache: aioredis.Redis) -> None:
    limiter = RateLimiter(cache, limit=5)
    subject = f"s-{uuid.uuid4()}"
    assert await statuses(limiter, subject, 8) == [200] * 5 + [429] * 3
    await limiter.close()


async def test_replicas_share_one_count_through_redis(cache: aioredis.Redis) -> None:
    a, b = RateLimiter(cache, limit=10, sync_interval=0.01), RateLimiter(cache, limit=10, sync_interval=0.01)
    subject = f"s-{uuid.uuid4()}"
    assert await statuses(a, subject, 6) == [200] * 6
    await asyncio.sleep(0.1)  # a's background sync has pushed its six
    assert await statuses(b, subject, 5) == [200] * 4 + [429]
    # a learns b's count with its next sync: one sync interval of over-admission at most.
    assert await statuses(a, subject, 1) == [200]
    await asyncio.sleep(0.1)
    assert await statuses(a, subject, 1) == [429]
    await a.close()
    await b.close()


async def test_open_when_redis_is_unreachable() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RateLimiter(dead, limit=1, sync_interval=0.01)
    assert await statuses(limiter, "anyone", 3) == [200, 200, 200]
    await limiter.close()
    await dead.aclose()
