"""Fuzzing the whole schema with generated documents: no 5xx, no internal errors, still serving.

hypothesis-graphql builds documents from the SDL: valid ones (POSITIVE: every field, argument and
nesting the schema allows, with odd values) and ones with exactly one schema violation (NEGATIVE).
Each goes through the real HTTP app, policy and graph. The only acceptable outcomes are data and
coded client errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from conftest import settings_for
from graphql import NameNode, ObjectFieldNode, ObjectValueNode, StringValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from hub.app import create_app
from hub.embedded import ArcadeDBServer, ValkeyServer
from schema import build_schema

SDL = build_schema().as_str()


def _representation(key: str, value: str) -> ObjectValueNode:
    fields = [("__typename", "Person"), (key, value)]
    return ObjectValueNode(
        fields=tuple(ObjectFieldNode(name=NameNode(value=k), value=StringValueNode(value=v)) for k, v in fields)
    )


SCALARS = {
    "Date": st.dates().map(lambda d: StringValueNode(value=d.isoformat())),
    "DateTime": st.datetimes().map(lambda d: StringValueNode(value=d.isoformat())),
    # Federation: entity representations, well-formed or not.
    "_Any": st.one_of(
        st.builds(_representation, st.sampled_from(["id", "nino", "other"]), st.text(max_size=40)),
        st.text(max_size=20).map(lambda t: StringValueNode(value=t)),
    ),
}
ALLOWED = {
    "BAD_USER_INPUT",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COSTLY",
    "FORBIDDEN",
    "NOT_FOUND",
}


@pytest.fixture(scope="module")
async def fuzz_client(
    servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path], caseworker: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    @asynccontextmanager
    async def client() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings_for(*servers, keys[1], rate_limit_per_minute=0))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hub.test", headers=caseworker
            ) as c:
                yield c

    async with client() as c:
        yield c


async def check(client: httpx.AsyncClient, document: str) -> None:
    response = await client.post("/graphql", json={"query": document})
    assert response.status_code < 500, (document, response.text)
    body = response.json()
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code in ALLOWED, (document, body)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(document=from_schema(SDL, custom_scalars=SCALARS, mode=Mode.POSITIVE))
async def test_valid_generated_documents_get_data_or_coded_errors(
    fuzz_client: httpx.AsyncClient, document: str
) -> None:
    await check(fuzz_client, document)


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(document=from_schema(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
async def test_invalid_generated_documents_are_refused_cleanly(fuzz_client: httpx.AsyncClient, document: str) -> None:
    await check(fuzz_client, document)


async def test_still_serving_after_the_fuzzing(fuzz_client: httpx.AsyncClient) -> None:
    response = await fuzz_client.post("/graphql", json={"query": '{ personByNino(nino: "AB123456C") { id } }'})
    assert response.json() == {"data": {"personByNino": None}}
