"""Fixtures for the connector tests: a real valkey-server, real sandbox upstreams on loopback, one HTTP session.

Nothing is mocked. Each test gets its own sandbox (so upstream call counts are its own) and its own cache
namespace in the shared valkey (so cached values never leak between tests). Policies in the documents
here are small (sub-second timeouts and backoffs) to keep the suite fast.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from support import serving

from connectors.cache import RecordCache
from connectors.contract import Connector
from connectors.http import create_session
from connectors.kinds.social_profile import SocialProfileConnector
from connectors.registry import build_connector
from connectors.sandbox import SandboxState, SocialSandbox
from connectors.source import Source
from connectors.testing import merge
from hub.embedded import ValkeyServer

SOCIAL_ENV = {"SOCIAL_CLIENT_ID": "hub-test-client", "SOCIAL_CLIENT_SECRET": "hub-test-secret-0123"}
PARTNER_TOKEN = "partner-token-4711"
PARTNER_ENV = {"PARTNER_TOKEN": PARTNER_TOKEN, "PARTNER_USER": "hub", "PARTNER_PASSWORD": "pa55:word"}

FAST = {
    "timeout": {"attempt": 1.0, "total": 2.0},
    "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 2.0},
    "breaker": {"failure_threshold": 5, "reset_timeout": 0.3},
    "cache": {"ttl": 60, "max_staleness": 600},
}


# --------------------------------------------------------------------------------------------------------
# Servers and clients
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    with ValkeyServer(tmp_path_factory.mktemp("connectors-valkey")) as server:
        yield server


@pytest.fixture
async def redis(valkey: ValkeyServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey.url)
    yield client
    await client.aclose()


@pytest.fixture
def record_cache(redis: aioredis.Redis) -> RecordCache:
    return RecordCache(redis, prefix=f"test:{secrets.token_hex(6)}")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_session() as s:
        yield s


@pytest.fixture
async def sandbox() -> AsyncIterator[SocialSandbox]:
    state = SandboxState(client_id=SOCIAL_ENV["SOCIAL_CLIENT_ID"], client_secret=SOCIAL_ENV["SOCIAL_CLIENT_SECRET"])
    async with SocialSandbox(state) as running:
        yield running


@pytest.fixture
def social_env() -> dict[str, str]:
    return dict(SOCIAL_ENV)


@pytest.fixture
def social_config(sandbox: SocialSandbox) -> dict[str, Any]:
    """A social_profile document pointing at this test's sandbox, with fast policies."""
    return merge(
        {
            "name": "social",
            "kind": "social_profile",
            "description": "Professional-network profile (sandbox)",
            "owner": "data-stewards@example.gov.uk",
            "match": "external_id",
            "lawful_basis": "consent",
            "purpose": "child_maintenance_assessment",
            "consent_required": True,
            "settings": {
                "base_url": sandbox.url,
                "client_id": "SOCIAL_CLIENT_ID",
                "client_secret": "SOCIAL_CLIENT_SECRET",
                "batch_size": 50,
            },
        },
        FAST,
    )


# --------------------------------------------------------------------------------------------------------
# A partner REST API for the declarative kind (nested JSON, bearer or basic auth, batch endpoint)
# --------------------------------------------------------------------------------------------------------


def partner_record(key: str) -> dict[str, Any] | None:
    """The partner's nested document for ``key``; None for keys starting with "unknown"."""
    if key.startswith("unknown"):
        return None
    n = sum(key.encode())
    document: dict[str, Any] = {
        "person": {"id": key, "reference": f"REF-{n:05d}"},
        "employment": {
            "current": {"employer": f"Employer {n % 7}", "since": f"20{10 + n % 15:02d}-0{1 + n % 9}-1{n % 9}"},
            "history": [{"employer": f"Previous {n % 3}", "weekly_hours": 30 + n % 10 + 0.5}],
        },
        "verified": n % 2 == 0,
        "children": n % 4,
        "updated_at": "2026-11-20T09:15:00Z",
    }
    if key.startswith("broken"):
        document["children"] = "several"  # the wrong type for an int field
    return document


@pytest.fixture
async def partner() -> AsyncIterator[str]:
    """A partner department's REST API on loopback; yields its base URL. Calls are counted in the app."""
    calls: dict[str, int] = {"single": 0, "batch": 0}

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(b"hub:pa55:word").decode()
        return header in (f"Bearer {PARTNER_TOKEN}", basic)

    async def one(request: web.Request) -> web.StreamResponse:
        calls["single"] += 1
        if not authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        record = partner_record(request.match_info["key"])
        return web.json_response({"data": record}) if record else web.json_response({"error": "not found"}, status=404)

    async def many(request: web.Request) -> web.StreamResponse:
        calls["batch"] += 1
        if not authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        keys = request.query.get("ids", "").split("|")
        items = [r for r in (partner_record(k) for k in keys) if r is not None]
        return web.json_response({"items": items, "count": len(items)})

    async def counts(request: web.Request) -> web.StreamResponse:
        return web.json_response(calls)

    app = web.Application()
    app.add_routes([web.get("/api/people/{key}", one), web.get("/api/people", many), web.get("/_calls", counts)])
    async with serving(app) as url:
        yield url


@pytest.fixture
def partner_env() -> dict[str, str]:
    return dict(PARTNER_ENV)


@pytest.fixture
def rest_config(partner: str) -> dict[str, Any]:
    """A declarative REST document (the YAML a steward writes) for the partner API."""
    return merge(
        {
            "name": "partner_employment",
            "kind": "rest",
            "description": "Employment facts from a partner department",
            "owner": "partner-liaison@example.gov.uk",
            "match": "nino",
            "lawful_basis": "public_task",
            "purpose": "child_maintenance_assessment",
            "consent_required": False,
            "settings": {
                "url": f"{partner}/api/people/{{key}}",
                "auth": {"type": "bearer", "token_env": "PARTNER_TOKEN"},
                "record_path": "data",
                "fields": {
                    "reference": {"path": "person.reference", "type": "str", "required": True},
                    "employer": {"path": "employment.current.employer", "type": "str"},
                    "employed_since": {"path": "employment.current.since", "type": "date"},
                    "previous_weekly_hours": {"path": "employment.history[0].weekly_hours", "type": "float"},
                    "verified": {"path": "verified", "type": "bool"},
                    "children": {"path": "children", "type": "int"},
                    "updated_at": {"path": "updated_at", "type": "datetime"},
                },
            },
        },
        FAST,
    )


PartnerCalls = Callable[[], Awaitable[dict[str, int]]]


@pytest.fixture
def partner_calls(partner: str, session: aiohttp.ClientSession) -> PartnerCalls:
    """How many single and batch requests the partner API has served so far."""

    async def read() -> dict[str, int]:
        async with session.get(f"{partner}/_calls") as response:
            counts: dict[str, int] = await response.json()
            return counts

    return read


@pytest.fixture
def partner_document() -> Callable[[str], dict[str, Any] | None]:
    return partner_record


# --------------------------------------------------------------------------------------------------------
# Building sources
# --------------------------------------------------------------------------------------------------------

MakeSource = Callable[..., Source]


@pytest.fixture
async def make_source(
    session: aiohttp.ClientSession, record_cache: RecordCache, social_config: dict[str, Any]
) -> AsyncIterator[MakeSource]:
    """Build a `Source` from the social document plus overrides (closed after the test).

    ``make_source(store=False, retry={"attempts": 1})``: ``store`` is the Redis cache (True: this test's
    namespace; False: none), keyword overrides merge into the document; ``kind``/``document``/``environ``
    build other kinds.
    """
    made: list[Source] = []

    def make(
        *,
        kind: type[Connector] = SocialProfileConnector,
        document: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] = SOCIAL_ENV,
        store: RecordCache | bool = True,
        **overrides: Any,
    ) -> Source:
        doc = merge(document if document is not None else social_config, overrides)
        chosen = record_cache if store is True else (store or None)
        source = Source(build_connector(kind, doc, session=session, environ=environ), cache=chosen)
        made.append(source)
        return source

    yield make
    for source in made:
        await source.aclose()
