"""Session fixtures: one real ArcadeDB (Bolt) and one real valkey-server on free loopback ports.

Tests isolate their data by creating their own people (random NINOs, unique family names) rather
than by wiping the shared graph, so they can run in any order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from support import random_nino, unique_family

from graph.driver import Graph
from graph.migrations import migrate
from graph.models import NewPerson, Person
from graph.person import create_person
from hub.app import connect_graph, create_app
from hub.auth import ensure_dev_keys, mint_token
from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.logs import configure_logging
from hub.logs import formatter as log_formatter
from hub.settings import Settings, load_settings

Gql = Callable[..., Awaitable[dict[str, Any]]]
ISSUER = "https://signin.test"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    """A signing key pair for test tokens: (private PEM, JWKS file the hub trusts)."""
    private, jwks = ensure_dev_keys(tmp_path_factory.mktemp("keys"))
    return private.read_bytes(), jwks


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArcadeDBServer, ValkeyServer]]:
    data = tmp_path_factory.mktemp("servers")
    with ArcadeDBServer(data, heap="1g") as graph_server, ValkeyServer(data) as cache_server:
        yield graph_server, cache_server


def settings_for(graph_server: ArcadeDBServer, cache_server: ValkeyServer, jwks: Path, **overrides: Any) -> Settings:
    return load_settings(
        auth_jwks_file=jwks,
        auth_issuer=ISSUER,
        neo4j_uri=graph_server.bolt_uri,
        neo4j_user=graph_server.user,
        neo4j_password=SecretStr(graph_server.password),
        neo4j_database=graph_server.database,
        redis_url=cache_server.url,
        graph_max_retry_time=1.0,
        graph_connection_timeout=1.0,
        **overrides,
    )


@pytest.fixture(scope="session")
def settings(servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path]) -> Settings:
    return settings_for(*servers, keys[1])


MintToken = Callable[..., str]


@pytest.fixture(scope="session")
def token(keys: tuple[bytes, Path]) -> MintToken:
    """token(roles=[...], subject=..., department=..., purpose=..., vot=..., ttl=...) -> signed JWT."""

    def mint(roles: list[str] | None = None, subject: str = "staff-1", **kw: Any) -> str:
        return mint_token(keys[0], issuer=ISSUER, audience="citizen-hub", subject=subject, roles=roles, **kw)

    return mint


@pytest.fixture(scope="session")
def caseworker(token: MintToken) -> dict[str, str]:
    """Headers of a caseworker working on child maintenance."""
    return {
        "authorization": f"Bearer {token(['caseworker'], subject='caseworker-1')}",
        "x-purpose": "child-maintenance",
    }


@pytest.fixture(scope="session")
async def graph(settings: Settings) -> AsyncIterator[Graph]:
    g = connect_graph(settings)
    await migrate(g)
    yield g
    await g.close()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as c:
        yield c


@pytest.fixture
def gql(client: httpx.AsyncClient, caseworker: dict[str, str]) -> Gql:
    """Run a GraphQL document; as the child-maintenance caseworker unless `headers` say otherwise."""

    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        expect_status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=caseworker if headers is None else headers,
        )
        assert response.status_code == expect_status, response.text
        body: dict[str, Any] = response.json()
        return body

    return run


@pytest.fixture
def family() -> str:
    return unique_family()


MakePerson = Callable[..., Awaitable[Person]]


class LogCapture(logging.Handler):
    """Every log line of the test session, formatted as production formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(log_formatter(json_output=True))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


PEOPLE_MADE: list[Person] = []


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_logs() -> Iterator[LogCapture]:
    """Production logging for the whole run; at the end, no made person's NINO or name is in any line."""
    configure_logging("DEBUG", json_output=True)
    capture = LogCapture()
    logging.getLogger().addHandler(capture)
    yield capture
    logging.getLogger().removeHandler(capture)
    text = "\n".join(capture.lines)
    leaked = [p.nino for p in PEOPLE_MADE if p.nino in text]
    leaked += [p.family_name for p in PEOPLE_MADE if p.family_name in text]
    assert capture.lines, "the run logged (the check is not vacuous)"
    assert not leaked, f"personal data in the logs: {leaked[:5]}"


@pytest.fixture
def make_person(graph: Graph, family: str) -> MakePerson:
    async def make(
        given: str = "Alex",
        family_name: str | None = None,
        born: date | None = date(1985, 5, 17),
        nino: str | None = None,
    ) -> Person:
        person = await create_person(
            graph,
            NewPerson(
                given_name=given, family_name=family_name or family, nino=nino or random_nino(), date_of_birth=born
            ),
        )
        PEOPLE_MADE.append(person)
        return person

    return make
