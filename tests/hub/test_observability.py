"""Metrics, request ids, structured logs and readiness while draining."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
from conftest import Gql, LogCapture, MakePerson, settings_for
from starlette.applications import Starlette

from hub.app import create_app
from hub.embedded import ArcadeDBServer, ValkeyServer


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return 0.0


async def test_metrics_move_with_traffic(client: httpx.AsyncClient, gql: Gql, make_person: MakePerson) -> None:
    p = await make_person()
    before = (await client.get("/metrics")).text
    query = "query($id: ID!) { person(id: $id) { nino children { id } } }"
    body = await gql(query, {"id": p.id})
    assert "errors" not in body
    await gql('{ person(id: "nope") { id } }')
    after = (await client.get("/metrics")).text
    assert sample(after, "hub_graphql_requests_total", operation="anonymous", outcome="ok") > sample(
        before, "hub_graphql_requests_total", operation="anonymous", outcome="ok"
    )
    assert sample(after, "hub_graphql_errors_total", code="BAD_USER_INPUT") >= 1
    # The person and the households its selection reads come in one statement (schema.people.lookahead).
    assert sample(after, "hub_cypher_round_trips_total", function="views.household_trees") > sample(
        before, "hub_cypher_round_trips_total", function="views.household_trees"
    )
    assert sample(after, "hub_audit_events_total", outcome="ok") > sample(
        before, "hub_audit_events_total", outcome="ok"
    )
    assert p.nino not in after and p.id not in after


async def test_operation_names_are_labels_only_when_sane(client: httpx.AsyncClient, caseworker: dict[str, str]) -> None:
    for name in ("PeopleSearch", "x" * 200, "bad name; drop", None):
        await client.post(
            "/graphql",
            json={"query": f"query {name if name == 'PeopleSearch' else ''} {{ __typename }}", "operationName": name},
            headers=caseworker,
        )
    text = (await client.get("/metrics")).text
    labels = set(re.findall(r'hub_graphql_requests_total\{operation="([^"]*)"', text))
    assert "PeopleSearch" in labels
    assert not any(len(label) > 64 or " " in label for label in labels)


async def test_metrics_are_not_public(
    app: Starlette, servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path]
) -> None:
    remote = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 4000)), base_url="http://h"
    )
    async with remote:
        assert (await remote.get("/metrics")).status_code == 404
    locked = create_app(settings_for(*servers, keys[1], metrics_token="scrape-secret"))
    async with locked.router.lifespan_context(locked):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=locked), base_url="http://h") as c:
            assert (await c.get("/metrics")).status_code == 401
            ok = await c.get("/metrics", headers={"authorization": "Bearer scrape-secret"})
            assert ok.status_code == 200 and "hub_graphql_requests_total" in ok.text


async def test_request_ids_reach_the_response_and_every_log_line(
    client: httpx.AsyncClient, caseworker: dict[str, str], no_personal_data_in_logs: LogCapture
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={
            **caseworker,
            "x-request-id": "req-abc-123",
            "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01",
        },
    )
    assert response.headers["x-request-id"] == "req-abc-123"
    access = [json.loads(line) for line in no_personal_data_in_logs.lines if '"req-abc-123"' in line]
    assert access and access[-1]["event"] == "request" and access[-1]["trace_id"] == "ab" * 16
    assert access[-1]["status"] == 200 and access[-1]["path"] == "/graphql"
    odd = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={**caseworker, "x-request-id": "a b\\n"}
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", odd.headers["x-request-id"])


async def test_readiness_turns_false_while_draining(app: Starlette, client: httpx.AsyncClient) -> None:
    app.state.draining = True
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "draining"
    finally:
        app.state.draining = False
    assert (await client.get("/readyz")).status_code == 200


async def test_batches_and_pools_are_measured(client: httpx.AsyncClient, gql: Gql, make_person: MakePerson) -> None:
    parent = await make_person()
    before = (await client.get("/metrics")).text
    body = await gql("query($id: ID!) { person(id: $id) { children { id } } }", {"id": parent.id})
    assert "errors" not in body
    await asyncio.sleep(1.2)  # pools are sampled every second
    after = (await client.get("/metrics")).text
    # person(id) and the households its selection reads: one look-ahead batch (schema.loaders.tree)
    assert sample(after, "hub_dataloader_batch_size_count", loader="household_trees") > sample(
        before, "hub_dataloader_batch_size_count", loader="household_trees"
    )
    for pool in ("hub_graph_pool_connections", "hub_redis_pool_connections"):
        assert f'{pool}{{state="in_use"}}' in after
        assert sample(after, pool, state="idle") + sample(after, pool, state="in_use") >= 1, pool
    for series in ("hub_active_subscriptions", "hub_websocket_connections", "hub_graph_transactions_in_flight"):
        assert f"\n{series} " in after, series
