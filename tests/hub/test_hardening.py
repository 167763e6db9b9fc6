"""Hardening at the HTTP edge: GraphQL-over-HTTP rules, body size, rate limits, trusted documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import MintToken, settings_for

from hub.app import create_app
from hub.documents import sha256
from hub.embedded import ArcadeDBServer, ValkeyServer

QUERY = '{ personByNino(nino: "AB123456C") { id } }'


@asynccontextmanager
async def hub_client(
    servers: tuple[ArcadeDBServer, ValkeyServer], jwks: Path, headers: dict[str, str], **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(*servers, jwks, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test", headers=headers) as client:
            yield client


async def test_simple_requests_cannot_carry_graphql(client: httpx.AsyncClient, caseworker: dict[str, str]) -> None:
    """Form posts and text/plain (what a cross-site form can send without CORS) are refused."""
    for content_type, content in (
        ("application/x-www-form-urlencoded", f"query={QUERY}"),
        ("text/plain", json.dumps({"query": QUERY})),
        ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=query\r\n\r\n{}\r\n--x--"),
    ):
        response = await client.post("/graphql", content=content, headers={**caseworker, "content-type": content_type})
        assert response.status_code == 400, (content_type, response.text)


async def test_get_runs_queries_but_never_mutations(client: httpx.AsyncClient, caseworker: dict[str, str]) -> None:
    response = await client.get("/graphql", params={"query": QUERY}, headers=caseworker)
    assert response.status_code == 200 and response.json() == {"data": {"personByNino": None}}
    mutation = 'mutation { createPerson(input: {givenName: "A", familyName: "B", nino: "AB123456C"}) { __typename } }'
    response = await client.get("/graphql", params={"query": mutation}, headers=caseworker)
    assert response.status_code in (400, 405, 406)


async def test_oversized_bodies_are_refused(
    servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> None:
    async with hub_client(servers, keys[1], caseworker, max_body_bytes=2048) as c:
        big = {"query": QUERY, "variables": {"pad": "x" * 4000}}
        response = await c.post("/graphql", json=big)
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it streams
            yield b'{"query": "' + b" " * 1500
            yield b" " * 1500 + b'"}'

        response = await c.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert (await c.post("/graphql", json={"query": QUERY})).status_code == 200


async def test_abusive_documents_are_refused_before_execution(
    client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    huge = "{ " + " ".join(f"f{i}: __typename" for i in range(3000)) + " }"
    body = (await client.post("/graphql", json={"query": huge}, headers=caseworker)).json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] in (
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    )


async def test_rate_limit_per_principal_with_retry_after(
    servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], token: MintToken
) -> None:
    me = {"authorization": f"Bearer {token(['caseworker'], subject='busy-1')}", "x-purpose": "child-maintenance"}
    other = {"authorization": f"Bearer {token(['caseworker'], subject='calm-2')}", "x-purpose": "child-maintenance"}
    async with hub_client(servers, keys[1], me, rate_limit_per_minute=5) as c:
        statuses = [(await c.post("/graphql", json={"query": QUERY})).status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        refused = await c.post("/graphql", json={"query": QUERY})
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await c.post("/graphql", json={"query": QUERY}, headers=other)).status_code == 200


async def test_trusted_documents_mode(
    tmp_path: Path, servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha256(QUERY), "name": "ByNino", "type": "query", "body": QUERY}],
            }
        )
    )
    async with hub_client(servers, keys[1], caseworker, trusted_documents=manifest) as c:
        by_id = await c.post("/graphql", json={"documentId": f"sha256:{sha256(QUERY)}"})
        assert by_id.status_code == 200 and by_id.json() == {"data": {"personByNino": None}}
        apollo = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(QUERY)}}}
        assert (await c.post("/graphql", json=apollo)).json() == {"data": {"personByNino": None}}
        assert (await c.post("/graphql", json={"query": QUERY})).status_code == 200
        for attempt in (
            {"query": "{ __typename }"},
            {"documentId": "sha256:" + "0" * 64},
            {"documentId": f"sha256:{sha256(QUERY)}", "query": "{ me { id } }"},
        ):
            response = await c.post("/graphql", json=attempt)
            assert response.status_code == 400
            assert response.json()["errors"][0]["extensions"]["code"] == "UNTRUSTED_DOCUMENT"


async def test_costly_documents_are_refused_before_execution(
    client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    wide = """{ people(filter: {familyName: "A"}, first: 100) {
        nodes { children { parents { claims { id type } addressHistory { from } } } } } }"""
    body = (await client.post("/graphql", json={"query": wide}, headers=caseworker)).json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY" and error["extensions"]["cost"] > 5000
    modest = '{ people(filter: {familyName: "A"}, first: 10) { nodes { children { givenName } } } }'
    assert "errors" not in (await client.post("/graphql", json={"query": modest}, headers=caseworker)).json()
