"""The HTTP app: health, readiness, and behaviour through a graph-server and a cache outage."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from conftest import settings_for
from support import random_nino, unique_family

from hub.app import create_app
from hub.embedded import ArcadeDBServer, ValkeyServer


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"graph": "ok", "cache": "ok"}}


async def test_graphiql_served_in_dev(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_production_mode_turns_off_introspection_and_graphiql(
    servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> None:
    app = create_app(settings_for(*servers, keys[1], env="production"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub.test", headers=caseworker
        ) as c:
            body = (await c.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
            assert body["data"] is None
            assert "introspection" in body["errors"][0]["message"].lower()
            page = await c.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code != 200 or "graphiql" not in page.text.lower()


async def timed(coro):  # type: ignore[no-untyped-def]
    """Await with a hang guard (this is not a performance assertion: a hang would block CI)."""
    started = time.perf_counter()
    result = await asyncio.wait_for(coro, 30)
    return result, time.perf_counter() - started


async def test_graph_outage_is_reported_quickly_and_recovered_without_restart(
    tmp_path: Path, servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> None:
    _, cache = servers
    first = ArcadeDBServer(tmp_path)
    first.start()
    try:
        app = create_app(settings_for(first, cache, keys[1]))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hub.test", headers=caseworker
            ) as c:
                nino = random_nino()
                created = await c.post(
                    "/graphql",
                    json={
                        "query": "mutation($i: CreatePersonInput!) "
                        "{ createPerson(input: $i) { ... on Person { id } } }",
                        "variables": {"i": {"givenName": "Olu", "familyName": unique_family(), "nino": nino}},
                    },
                )
                person_id = created.json()["data"]["createPerson"]["id"]
                query = {"query": f'{{ person(id: "{person_id}") {{ givenName }} }}'}

                first.stop()
                ready, _ = await timed(c.get("/readyz"))
                assert ready.status_code == 503
                assert ready.json()["checks"] == {"graph": "unavailable", "cache": "ok"}
                response, elapsed = await timed(c.post("/graphql", json=query))
                body = response.json()
                assert body["data"] == {"person": None}
                assert body["errors"][0]["extensions"] == {"code": "GRAPH_UNAVAILABLE"}
                assert "unavailable" in body["errors"][0]["message"]
                print(f"GRAPH_UNAVAILABLE after {elapsed:.2f} s")

                second = ArcadeDBServer(tmp_path, bolt_port=first.bolt_port, http_port=first.http_port)
                second.start()
                try:
                    for _ in range(50):
                        if (await c.get("/readyz")).status_code == 200:
                            break
                        await asyncio.sleep(0.2)
                    body = (await c.post("/graphql", json=query)).json()
                    assert body == {"data": {"person": {"givenName": "Olu"}}}
                finally:
                    second.stop()
    finally:
        first.stop()


async def test_cache_outage_turns_readiness_false(
    tmp_path: Path, servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> None:
    graph_server, _ = servers
    valkey = ValkeyServer(tmp_path)
    valkey.start()
    try:
        app = create_app(settings_for(graph_server, valkey, keys[1], ready_timeout=1.0))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hub.test", headers=caseworker
            ) as c:
                assert (await c.get("/readyz")).status_code == 200
                valkey.stop()
                ready, _ = await timed(c.get("/readyz"))
                assert ready.status_code == 503
                assert ready.json()["checks"] == {"graph": "ok", "cache": "unavailable"}
                # Queries do not need the cache yet: they keep working.
                body = (await c.post("/graphql", json={"query": '{ personByNino(nino: "AB123456C") { id } }'})).json()
                assert "errors" not in body
    finally:
        valkey.stop()
