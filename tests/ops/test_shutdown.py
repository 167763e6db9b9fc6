"""Graceful shutdown of a real `hub serve` process on SIGTERM.

/readyz turns false at once; after HUB_SHUTDOWN_DELAY new connections are refused; a request in
flight (held by a slow real upstream) still completes; a live subscription is closed with 1012
"service restart" (the reconnect hint); the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from aiohttp import web
from conftest import MakePerson, MintToken
from ops_support import StartHub, sample, write_rest_connector
from support import serving
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

UPSTREAM_SECONDS = 3.0


@pytest.fixture
async def slow_upstream() -> AsyncIterator[tuple[str, list[float]]]:
    started: list[float] = []

    async def one(request: web.Request) -> web.StreamResponse:
        started.append(time.monotonic())
        await asyncio.sleep(UPSTREAM_SECONDS)
        return web.json_response({"nino": request.match_info["nino"], "award": {"type": "ESA"}})

    app = web.Application()
    app.add_routes([web.get("/benefits/{nino}", one)])
    async with serving(app) as url:
        yield url, started


async def readiness(client: httpx.AsyncClient) -> tuple[int | None, str | None]:
    try:
        response = await client.get("/readyz", timeout=2)
    except httpx.TransportError:
        return None, None
    return response.status_code, response.json().get("status")


async def test_sigterm_drains_then_exits_zero(
    start_hub: StartHub,
    slow_upstream: tuple[str, list[float]],
    token: MintToken,
    make_person: MakePerson,
    tmp_path: Path,
) -> None:
    write_rest_connector(
        tmp_path / "connectors",
        tmp_path / "policies.yaml",
        slow_upstream[0],
        timeout={"attempt": 10.0, "total": 12.0},
    )
    env = {
        "HUB_CONNECTORS_DIR": str(tmp_path / "connectors"),
        "HUB_POLICY_FILE": str(tmp_path / "policies.yaml"),
        "HUB_SHUTDOWN_DELAY": "1",
        "HUB_SHUTDOWN_GRACE": "15",
    }
    hub = await asyncio.to_thread(start_hub, env=env)
    me = await make_person()
    bearer = f"Bearer {token(['caseworker'])}"
    headers = {"authorization": bearer, "x-purpose": "child-maintenance"}
    ws_url = hub.url.replace("http://", "ws://") + "/graphql"

    async with httpx.AsyncClient(base_url=hub.url) as client:
        async with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"Authorization": bearer, "X-Purpose": "child-maintenance"}}
            await ws.send(orjson.dumps(init).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
            query = "subscription($p: ID!) { personEvents(personId: $p) { position } }"
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"p": me.id}}}
            await ws.send(orjson.dumps(subscribe).decode())
            deadline = time.monotonic() + 10
            while sample((await client.get("/metrics")).text, "hub_active_subscriptions") != 1:
                assert time.monotonic() < deadline, "the subscription is counted while it runs"
                await asyncio.sleep(0.1)

            slow = asyncio.create_task(
                client.post(
                    "/graphql",
                    json={"query": f'{{ person(id: "{me.id}") {{ partnerBenefits {{ awardType }} }} }}'},
                    headers=headers,
                    timeout=30,
                )
            )
            while not slow_upstream[1]:
                await asyncio.sleep(0.02)  # the request is now in flight, held by the upstream

            hub.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            async with httpx.AsyncClient(base_url=hub.url) as probe:
                status = await readiness(probe)
                assert status == (503, "draining"), "not ready at once, still answering during the delay"
                while (await readiness(probe))[0] is not None:
                    assert time.monotonic() - signalled < 5
                    await asyncio.sleep(0.05)
            refused_after = time.monotonic() - signalled
            assert 0.9 <= refused_after < 3, refused_after
            assert not slow.done(), "new connections are refused while the in-flight request still runs"

            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, "service restart: reconnect"

            response = await slow
            assert response.status_code == 200
            assert response.json()["data"]["person"]["partnerBenefits"] == {"awardType": "ESA"}

    code = await asyncio.to_thread(hub.proc.wait, 30)
    assert code == 0
    assert time.monotonic() - signalled < UPSTREAM_SECONDS + 5
