"""Redis (Valkey) down at start-up and at run time: the hub serves from the graph, says it is not ready,
and recovers by itself when the cache returns. A real valkey-server, stopped and started on one port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import MakePerson, settings_for
from ops_support import free_port
from redis.exceptions import RedisError
from support import random_nino, unique_family

from hub.app import create_app
from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.events import RedisEvents
from schema.events import Event, EventKind


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> float:
    """Seconds until `check()` holds (fails the test after `timeout`)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, "condition not reached"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def publish(events: RedisEvents, person_id: str) -> bool:
    """Publish a profile change; False while the cache cannot take it."""
    try:
        await events.publish(Event(EventKind.PROFILE_CHANGED, (person_id,), data={"fields": ["givenName"]}))
    except (RedisError, OSError):
        return False
    return True


async def test_cache_outage_degrades_and_recovers(
    servers: tuple[ArcadeDBServer, ValkeyServer],
    keys: tuple[bytes, Path],
    caseworker: dict[str, str],
    make_person: MakePerson,
    tmp_path: Path,
) -> None:
    port = free_port()
    cache = ValkeyServer(tmp_path / "cache", port=port)
    settings = settings_for(servers[0], cache, keys[1], ready_timeout=0.5)  # valkey not started yet: down
    me = await make_person()
    app = create_app(settings)

    async with app.router.lifespan_context(app):  # starts although the cache is down
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as client:

            async def ask() -> dict[str, Any]:
                response = await client.post(
                    "/graphql", json={"query": f'{{ person(id: "{me.id}") {{ nino }} }}'}, headers=caseworker
                )
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            readyz = await client.get("/readyz")
            assert readyz.status_code == 503 and readyz.json()["checks"] == {"graph": "ok", "cache": "unavailable"}
            assert (await ask()) == {"data": {"person": {"nino": me.nino}}}, "answered from the graph"
            created = await client.post(
                "/graphql",
                json={
                    "query": "mutation($i: CreatePersonInput!) { createPerson(input: $i) { __typename } }",
                    "variables": {"i": {"givenName": "Cache", "familyName": unique_family(), "nino": random_nino()}},
                },
                headers=caseworker,
            )
            assert created.json() == {"data": {"createPerson": {"__typename": "Person"}}}, "writes go on too"

            events: RedisEvents = app.state.resources.events
            topic = f"person:{me.id}"
            cache.start()
            try:
                recovered = await until(ready)
                print(f"cache back at start-up: ready again after {recovered:.2f} s")
                assert (await ask())["data"]["person"]["nino"] == me.nino
                async with events.listen(topic) as live:
                    await publish(events, me.id)
                    first = await asyncio.wait_for(anext(live), 10)
                    cache.stop()

                    # At run time: down again, then back.
                    assert (await client.get("/readyz")).json()["checks"]["cache"] == "unavailable"
                    for _ in range(5):
                        assert (await ask()) == {"data": {"person": {"nino": me.nino}}}
                    cache.start()
                    recovered = await until(ready)
                    print(f"cache back at run time: ready again after {recovered:.2f} s")
                    assert (await ask())["data"]["person"]["nino"] == me.nino

                    # The listener that lived through the outage gets what was published as soon as the cache
                    # took it (replayed from the stream if pub/sub was not back yet), then live events again;
                    # a listener that starts afterwards gets live events.
                    await until(lambda: publish(events, me.id), 20)
                    gap = await asyncio.wait_for(anext(live), 10)
                    assert gap.position > first.position
                    await asyncio.sleep(1.5)  # the pub/sub reader has reconnected by now
                    async with events.listen(topic) as fresh:
                        assert await publish(events, me.id)
                        after = await asyncio.wait_for(anext(live), 10)
                        assert after.position > gap.position
                        assert (await asyncio.wait_for(anext(fresh), 10)).position == after.position
            finally:
                cache.stop()
