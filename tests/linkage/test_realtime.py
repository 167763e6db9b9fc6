"""Real-time linking wired in: a signed webhook carrying personal attributes, and a connector's fetch result
for an external id not linked yet, each matched as it arrives — against the real graph, a real hub served
over HTTP, and a real upstream behind a YAML-only REST connector.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from conftest import MakePerson
from live_support import serve, signed, webhook_secret
from support import serving

from bench.linkage import Trained
from connectors.registry import ConnectorRegistry
from graph.driver import Graph
from graph.linkage.decision import Outcome
from graph.linkage.errors import LinkingUnavailable
from graph.linkage.links import candidates_for_identity, links_for_person
from hub.app import create_app
from hub.errors import Refusal
from hub.identities import IdentityLinker, link_incoming, receive_identity
from hub.linkage import LinkageSetupError, load_config, save_model
from hub.settings import Settings
from schema.identity.matching import link_fetched

FEED = "register_feed"
SOCIAL_YAML = Path(__file__).resolve().parents[2] / "config" / "connectors" / "social.yaml"


def linkage_config(tmp: Path, trained: Trained | None) -> Path:
    models = tmp / "models"
    if trained is not None:
        save_model(trained.document, models)
    config = tmp / "linkage.yaml"
    config.write_text(f"thresholds: {{auto_link_bits: 22, review_bits: 11}}\nmodels_dir: {models}\n")
    return config


@pytest.fixture(scope="module")
def secret() -> Iterator[str]:
    with webhook_secret(FEED) as value:
        yield value


@pytest.fixture(scope="module")
def base_url(
    settings: Settings, secret: str, trained: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config = linkage_config(tmp_path_factory.mktemp("linkage"), trained)
    with serve(settings.model_copy(update={"linkage_config": config})) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def identity_event(external_id: str, **attributes: Any) -> bytes:
    return json.dumps({"type": "identity.record", "data": {"externalId": external_id, **attributes}}).encode()


async def deliver(http: httpx.AsyncClient, secret: str, body: bytes) -> httpx.Response:
    return await http.post(f"/webhooks/{FEED}", content=body, headers=signed(secret, f"msg_{uuid.uuid4().hex}", body))


def born(person: Any) -> str:
    assert person.date_of_birth is not None
    return str(person.date_of_birth.isoformat())


async def test_a_webhook_record_above_the_upper_threshold_is_linked_with_the_model_version(
    http: httpx.AsyncClient, secret: str, graph: Graph, make_person: MakePerson, trained: Trained
) -> None:
    person = await make_person("Margaret", born=date(1931, 5, 6))
    external = f"w-{uuid.uuid4().hex[:8]}"
    body = identity_event(
        external, givenName="Margaret", familyName=person.family_name, dateOfBirth=born(person), postcode="SW1A 1AA"
    )
    response = await deliver(http, secret, body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "linked",
        "webhookId": response.json()["webhookId"],
        "method": "probabilistic",
        "modelVersion": trained.model.version,
    }
    assert person.id not in response.text  # the sender never learns the hub's person id
    [link] = await links_for_person(graph, person.id)
    assert (link.source, link.external_id, link.method, link.model_version, link.linked_by) == (
        FEED,
        external,
        "probabilistic",
        trained.model.version,
        "realtime",
    )
    assert link.explanation is not None and link.explanation["waterfall"][0]["comparison"] == "prior"

    # the same record again (a new delivery): nothing new, the person id stays
    again = await deliver(http, secret, body)
    assert again.json()["status"] == "already linked"
    assert [x.external_id for x in await links_for_person(graph, person.id)] == [external]


async def test_a_record_between_the_thresholds_goes_to_the_review_queue(
    http: httpx.AsyncClient, secret: str, graph: Graph, make_person: MakePerson
) -> None:
    twins_born = date(1932, 7, 8)
    james = await make_person("James", born=twins_born)
    john = await make_person("John", born=twins_born)
    external = f"w-{uuid.uuid4().hex[:8]}"
    body = identity_event(external, givenName="J.", familyName=james.family_name, dateOfBirth="1932-07-08")
    response = await deliver(http, secret, body)
    assert response.status_code == 200 and response.json()["status"] == "queued", response.text
    assert {c.person_id for c in await candidates_for_identity(graph, FEED, external)} == {james.id, john.id}
    assert await links_for_person(graph, james.id) == [] and await links_for_person(graph, john.id) == []


async def test_a_record_below_the_lower_threshold_writes_nothing(
    http: httpx.AsyncClient, secret: str, graph: Graph, family: str
) -> None:
    external = f"w-{uuid.uuid4().hex[:8]}"
    body = identity_event(external, givenName="Nobody", familyName=family, dateOfBirth="1901-01-01")
    response = await deliver(http, secret, body)
    assert response.status_code == 200 and response.json()["status"] == "unmatched", response.text
    assert await candidates_for_identity(graph, FEED, external) == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"externalId": "x1", "givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-30"}, "dateOfBirth"),
        ({"externalId": "x1", "givenName": "Ann", "dateOfBirth": "1980-02-03"}, "familyName: is required"),
        ({"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"}, "externalId"),
        ({"externalId": "x1", "givenName": "Ann", "familyName": "Lee", "verified": {"nino": "no"}}, "verified.nino"),
        ("not an object", "data must be an object"),
    ],
)
async def test_a_malformed_webhook_record_is_refused_and_writes_nothing(
    http: httpx.AsyncClient, secret: str, graph: Graph, data: Any, problem: str
) -> None:
    body = json.dumps({"type": "identity.record", "data": data}).encode()
    response = await deliver(http, secret, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "WEBHOOK_BODY_INVALID" and problem in error["message"]
    assert await candidates_for_identity(graph, FEED, "x1") == []


async def test_an_unsigned_identity_record_is_refused_before_matching(
    http: httpx.AsyncClient, graph: Graph, make_person: MakePerson
) -> None:
    person = await make_person("Margaret", born=date(1933, 9, 10))
    body = identity_event("forged", givenName="Margaret", familyName=person.family_name, dateOfBirth=born(person))
    response = await deliver(http, "whsec_" + "A" * 44, body)
    assert response.status_code == 401
    assert await links_for_person(graph, person.id) == []


async def test_without_a_trained_model_linking_says_it_is_off(graph: Graph, tmp_path: Path) -> None:
    linker = IdentityLinker.load(graph, load_config(linkage_config(tmp_path, None)))
    assert linker.resolver is None
    with pytest.raises(LinkingUnavailable, match="train one"):
        await link_incoming(linker, FEED, "x", {"givenName": "Ann", "familyName": "Lee", "postcode": "SW1A 1AA"})

    class Resources:
        pass

    resources = Resources()
    resources.linker = linker  # type: ignore[attr-defined]
    with pytest.raises(Refusal) as refused:
        await receive_identity(resources, FEED, "msg_1", identity_event("x", givenName="Ann", familyName="Lee"))
    assert (refused.value.status, refused.value.code) == (503, "IDENTITY_LINKING_UNAVAILABLE")


# --- a connector's fetch result for an id not linked yet -------------------------------------------


REGISTER_YAML = """\
kind: rest
description: A partner's register of people, by the partner's own id
owner: partner-liaison@example.gov.uk
match: external_id
lawful_basis: public_task
purpose: child-maintenance
consent_required: false
timeout: {{attempt: 1.0, total: 2.0}}
settings:
  url: "{base}/people/{{key}}"
  fields:
    given_name: {{path: name.given, type: str}}
    family_name: {{path: name.family, type: str}}
    date_of_birth: {{path: born, type: date}}
    postcode: {{path: address.postcode, type: str}}
"""


def register_upstream(person: Any, calls: list[str]) -> web.Application:
    """A partner register keyed by its own ids: reg-1 is `person` (matchable), reg-2 lacks a family name."""
    records = {
        "reg-1": {
            "name": {"given": person.given_name, "family": person.family_name},
            "born": born(person),
            "address": {"postcode": "SW1A 1AA"},
        },
        "reg-2": {"name": {"given": person.given_name}, "born": born(person)},  # cannot be matched
    }

    async def one(request: web.Request) -> web.StreamResponse:
        calls.append(request.match_info["id"])
        found = records.get(request.match_info["id"])
        return web.json_response(found) if found else web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.add_routes([web.get("/people/{id}", one)])
    return app


async def test_a_fetched_record_for_an_unlinked_id_is_matched(
    graph: Graph, settings: Settings, trained: Trained, make_person: MakePerson, tmp_path: Path
) -> None:
    person = await make_person("Margaret", born=date(1934, 11, 12))
    calls: list[str] = []
    upstream = register_upstream(person, calls)
    source = f"register_{uuid.uuid4().hex[:6]}"
    async with serving(upstream) as base, aiohttp.ClientSession() as session:
        (tmp_path / f"{source}.yaml").write_text(REGISTER_YAML.format(base=base))
        assert settings.redis_url is not None
        redis = aioredis.Redis.from_url(settings.redis_url)
        registry = ConnectorRegistry.from_directory(
            tmp_path, session=session, redis=redis, environ={}, cache_prefix=f"test:realtime:{source}"
        )
        try:
            linker = IdentityLinker.load(graph, load_config(linkage_config(tmp_path / "l", trained)))
            results = await link_fetched(linker, registry, source, ["reg-1", "reg-2", "reg-3"])
        finally:
            await registry.aclose()
            await redis.aclose()
    assert sorted(calls) == ["reg-1", "reg-2", "reg-3"]
    first, second, third = results
    assert first.decision is not None and first.decision.outcome is Outcome.AUTO_LINK
    assert (first.decision.person_id, first.decision.model_version) == (person.id, trained.model.version)
    assert second.decision is None and second.problem is not None and "familyName" in second.problem
    assert third.decision is None and third.problem
    [link] = await links_for_person(graph, person.id)
    assert (link.source, link.external_id, link.method) == (source, "reg-1", "probabilistic")
    assert await candidates_for_identity(graph, source, "reg-2") == []


def test_a_broken_linkage_configuration_stops_start_up_naming_the_file(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "linkage.yaml"
    bad.write_text("thresholds: {auto_link_bits: 10, review_bits: 20}\n")
    with pytest.raises(LinkageSetupError, match="linkage.yaml.*review_bits <= auto_link_bits"):
        create_app(settings.model_copy(update={"linkage_config": bad}))


MATCH = """
mutation($source: String!, $externalId: String!) { matchExternalRecord(source: $source, externalId: $externalId) {
  __typename
  ... on ExternalRecordMatch { source externalId outcome method modelVersion reason queued person { id } }
  ... on InvalidInput { field message }
  ... on NotFoundError { id message }
} }
"""


async def test_a_steward_matches_a_record_fetched_from_its_connector(
    settings: Settings, token: Any, trained: Trained, make_person: MakePerson, graph: Graph, tmp_path: Path
) -> None:
    """The fetch path wired into the app: `matchExternalRecord` fetches through the connector and matches."""
    person = await make_person("Margaret", born=date(1935, 12, 13))
    upstream = register_upstream(person, [])
    source = f"register_{uuid.uuid4().hex[:6]}"
    steward = {"authorization": f"Bearer {token(['steward'], subject='steward-3')}", "x-purpose": "data-stewardship"}
    async with serving(upstream) as base:
        connectors = tmp_path / "connectors"
        connectors.mkdir()
        (connectors / f"{source}.yaml").write_text(REGISTER_YAML.format(base=base))
        (connectors / "social.yaml").write_text(SOCIAL_YAML.read_text())
        update = {"connectors_dir": connectors, "linkage_config": linkage_config(tmp_path, trained)}
        app = create_app(settings.model_copy(update=update))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client,
        ):

            async def match(external_id: str, headers: dict[str, str] = steward, src: str = source) -> Any:
                variables = {"source": src, "externalId": external_id}
                response = await client.post("/graphql", json={"query": MATCH, "variables": variables}, headers=headers)
                return response.json()

            body = await match("reg-1")
            assert body["data"]["matchExternalRecord"] == {
                "__typename": "ExternalRecordMatch",
                "source": source,
                "externalId": "reg-1",
                "outcome": "LINKED",
                "method": "probabilistic",
                "modelVersion": trained.model.version,
                "reason": body["data"]["matchExternalRecord"]["reason"],
                "queued": 0,
                "person": {"id": person.id},
            }
            again = await match("reg-1")
            assert again["data"]["matchExternalRecord"]["outcome"] == "ALREADY_LINKED"
            refused = (await match("reg-2"))["data"]["matchExternalRecord"]
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", "record")
            assert "familyName" in refused["message"]
            missing = (await match("reg-9"))["data"]["matchExternalRecord"]
            assert missing["__typename"] == "NotFoundError"
            unknown = (await match("reg-1", src="nope"))["data"]["matchExternalRecord"]
            assert (unknown["__typename"], unknown["field"]) == ("InvalidInput", "source")
            caseworker = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "child-maintenance"}
            forbidden = await match("reg-1", headers=caseworker)
            assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    [link] = await links_for_person(graph, person.id)
    assert (link.source, link.external_id, link.method, link.model_version) == (
        source,
        "reg-1",
        "probabilistic",
        trained.model.version,
    )
    assert await candidates_for_identity(graph, source, "reg-2") == []
