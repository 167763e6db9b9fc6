"""End to end through Apollo's own gateway: the hub, a partner department's subgraph, and `@apollo/gateway`.

Three real HTTP servers on loopback ports: the hub (uvicorn in a thread of this process, on the test
session's graph and cache), HMRC's earnings subgraph (`@apollo/subgraph`, extending Person by NINO) and
the gateway, which composes both SDLs at start-up and forwards each caller's Authorization, X-Purpose
and X-Request-Id. The hub alone decides what a caller reads; the gateway plans and joins.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from conftest import MintToken
from support import random_nino, unique_family

from graph.driver import Graph
from graph.models import NewPerson, Person
from graph.person import create_person
from hub.app import create_app
from hub.settings import Settings

HUB_READY_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def hub_url(settings: Settings) -> Iterator[str]:
    """The hub as a real HTTP server on a free loopback port."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="hub-under-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + HUB_READY_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "the hub's server stopped during start-up (see the log above)"
        assert time.monotonic() < deadline, f"the hub did not start within {HUB_READY_TIMEOUT:.0f} s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/graphql"
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "the hub's server did not stop"


@pytest.fixture(scope="module")
def gateway(start_node: Any, hub_url: str, hub_sdl: Path, partner_sdl: Path) -> str:
    partner = start_node("partners/hmrc-earnings.mjs")
    gw = start_node("gateway.mjs", f"hub={hub_url}={hub_sdl}", f"hmrc={partner.url}={partner_sdl}")
    return str(gw.url)


@pytest.fixture(scope="module")
async def citizen_record(graph: Graph) -> Person:
    return await create_person(
        graph,
        NewPerson(given_name="Gale", family_name=unique_family(), nino=random_nino(), date_of_birth=date(1979, 3, 3)),
    )


def post(url: str, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
    return body


def monthly_gross(nino: str) -> list[int]:
    """What the partner subgraph reports for a NINO (federation/partners/hmrc-earnings.mjs)."""
    return [150000 + int(nino[2:8]) % 100000 + i * 1000 for i in range(3)]


def caseworker(token: MintToken) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token(['caseworker'], subject='caseworker-gw')}",
        "x-purpose": "child-maintenance",
    }


def hmrc(token: MintToken, **extra: str) -> dict[str, str]:
    minted = token(["partner"], subject="hmrc-gw", department="HMRC", purpose="earnings-verification")
    return {"authorization": f"Bearer {minted}", **extra}


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def test_a_query_from_the_hub_joins_the_partners_earnings(
    gateway: str, token: MintToken, citizen_record: Person
) -> None:
    """hub person -> (by NINO) HMRC earnings: the gateway asks the hub for the key, then the partner."""
    body = post(
        gateway,
        f'{{ person(id: "{citizen_record.id}") {{ givenName nino earnings {{ periodEnd employer grossPence }} }} }}',
        caseworker(token),
    )
    assert "errors" not in body, body
    person = body["data"]["person"]
    assert person["givenName"] == "Gale" and person["nino"] == citizen_record.nino
    assert [p["grossPence"] for p in person["earnings"]] == monthly_gross(citizen_record.nino)
    assert person["earnings"][0]["periodEnd"] == "2026-03-05"


def test_a_query_from_the_partner_joins_the_hubs_person_through_entities(
    gateway: str, token: MintToken, citizen_record: Person
) -> None:
    """HMRC earnings -> (by NINO) hub person: the gateway calls the hub's `_entities` with the caller's token."""
    spaced = f"{citizen_record.nino[:2].lower()} {citizen_record.nino[2:]}"
    body = post(
        gateway,
        f'{{ earningsReport(nino: "{spaced}") {{ totalGrossPence person {{ id givenName familyName }} }} }}',
        hmrc(token),
    )
    assert "errors" not in body, body
    report = body["data"]["earningsReport"]
    assert report["totalGrossPence"] == sum(monthly_gross(citizen_record.nino))
    assert report["person"] == {
        "id": citizen_record.id,
        "givenName": "Gale",
        "familyName": citizen_record.family_name,
    }


def test_a_partner_gets_the_hubs_refusal_for_fields_outside_its_agreement(
    gateway: str, token: MintToken, citizen_record: Person
) -> None:
    body = post(
        gateway,
        f'{{ earningsReport(nino: "{citizen_record.nino}") '
        "{ person { givenName status version claims { type } } } }",
        hmrc(token),
    )
    person = body["data"]["earningsReport"]["person"]
    assert person == {"givenName": "Gale", "status": None, "version": None, "claims": None}
    assert codes(body) == ["FORBIDDEN"] * 3
    assert {tuple(e["path"]) for e in body["errors"]} == {
        ("earningsReport", "person", f) for f in ("status", "version", "claims")
    }
    assert all(e["message"].startswith("Not allowed: reading Person.") for e in body["errors"])
    assert "ACTIVE" not in json.dumps(body["data"])

    body = post(gateway, f'{{ person(id: "{citizen_record.id}") {{ nino parents {{ nino }} }} }}', hmrc(token))
    assert body["data"] == {"person": {"nino": citizen_record.nino, "parents": None}}
    assert codes(body) == ["FORBIDDEN"]


def test_no_token_no_data_whichever_subgraph_a_query_starts_in(gateway: str, citizen_record: Person) -> None:
    body = post(gateway, f'{{ person(id: "{citizen_record.id}") {{ givenName nino }} }}')
    assert body["data"] == {"person": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and error["extensions"]["status"] == 401
    assert error["message"].startswith("a bearer token is required")  # the hub's own words
    assert citizen_record.nino not in json.dumps(body)

    # The partner (a test partner that checks no token) answers its part; the hub still refuses its own.
    body = post(
        gateway, f'{{ earningsReport(nino: "{citizen_record.nino}") {{ totalGrossPence person {{ givenName }} }} }}'
    )
    assert body["data"]["earningsReport"]["person"] == {"givenName": None}  # the gateway keeps the entity's shell
    assert codes(body) == ["UNAUTHENTICATED"] and "Gale" not in json.dumps(body)


def test_a_staff_member_without_a_purpose_is_refused_by_the_hub(
    gateway: str, token: MintToken, citizen_record: Person
) -> None:
    headers = {"authorization": f"Bearer {token(['caseworker'], subject='caseworker-gw')}"}
    body = post(gateway, f'{{ person(id: "{citizen_record.id}") {{ givenName }} }}', headers)
    assert body["data"] == {"person": None} and codes(body) == ["PURPOSE_REQUIRED"]


def test_reads_through_the_gateway_are_audited_under_the_callers_identity_and_request_id(
    gateway: str, token: MintToken, citizen_record: Person
) -> None:
    request_id = f"gw-{uuid.uuid4()}"
    body = post(
        gateway,
        f'{{ earningsReport(nino: "{citizen_record.nino}") {{ person {{ dateOfBirth }} }} }}',
        hmrc(token, **{"x-request-id": request_id}),
    )
    assert body["data"]["earningsReport"]["person"] == {"dateOfBirth": "1979-03-03"}
    auditor = {"authorization": f"Bearer {token(['auditor'], subject='auditor-gw')}", "x-purpose": "audit"}
    body = post(gateway, '{ accessEvents(actor: "hmrc-gw") { requestId personId actorDepartment fields } }', auditor)
    assert {
        "requestId": request_id,
        "personId": citizen_record.id,
        "actorDepartment": "HMRC",
        "fields": ["dateOfBirth"],  # the NINO came from the partner: the hub audits what it served
    } in body["data"]["accessEvents"]
