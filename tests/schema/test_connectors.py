"""Connectors in the schema, end to end: a hub app over the real graph and valkey, with the social-profile
sandbox and a partner REST API (a connector configured by YAML alone) as real HTTP upstreams.

Upstream calls are counted at the upstreams themselves; nothing is patched.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import yaml
from aiohttp import web
from conftest import MakePerson, MintToken
from starlette.applications import Starlette
from support import serving

from connectors.kinds.social_profile import SocialProfile as SocialRecord
from connectors.sandbox import Fault, SandboxState, SocialSandbox
from connectors.sandbox.social import profile_for
from connectors.source import Source
from graph.audit import access_log
from graph.consent import grant_consent
from graph.driver import Graph
from graph.identity import link_identity
from hub.app import Resources, create_app
from hub.settings import DEFAULT_POLICY, Settings
from schema.context import Context

BENEFITS_TOKEN = "benefits-token-" + secrets.token_hex(4)
FAST = {
    "timeout": {"attempt": 0.5, "total": 1.5},
    "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 2.0},
    "breaker": {"failure_threshold": 1000, "reset_timeout": 0.2},
    "cache": {"ttl": 60, "max_staleness": 600},
}
PROFILE = (
    "socialProfile { headline currentEmployer location connections lastActive "
    "provenance { connector fetchedAt stale cached matchConfidence } }"
)


# --------------------------------------------------------------------------------------------------------
# Upstreams, configuration and the app
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def social() -> AsyncIterator[SocialSandbox]:
    async with SocialSandbox(SandboxState()) as sandbox:  # the sandbox's dev credentials, as in `make serve`
        yield sandbox


def benefits_record(nino: str) -> dict[str, Any]:
    n = sum(nino.encode())
    return {
        "nino": nino,
        "award": {"type": ["JSA", "ESA", "UC"][n % 3], "weekly_pence": 5000 + n},
        "since": "2024-01-05",
    }


@pytest.fixture(scope="module")
async def benefits() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A partner department's benefits API: one record per NINO, a batch endpoint, bearer auth."""
    calls = {"single": 0, "batch": 0}

    def denied(request: web.Request) -> bool:
        return request.headers.get("Authorization") != f"Bearer {BENEFITS_TOKEN}"

    async def one(request: web.Request) -> web.StreamResponse:
        calls["single"] += 1
        if denied(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response(benefits_record(request.match_info["nino"]))

    async def many(request: web.Request) -> web.StreamResponse:
        calls["batch"] += 1
        if denied(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response({"items": [benefits_record(n) for n in request.query["ninos"].split(",")]})

    app = web.Application()
    app.add_routes([web.get("/benefits/{nino}", one), web.get("/benefits", many)])
    async with serving(app) as url:
        yield url, calls


def write_config(directory: Path, social_url: str, benefits_url: str) -> None:
    social_doc = {
        "kind": "social_profile",
        "description": "Professional-network profile (sandbox)",
        "owner": "stewards@example.gov.uk",
        "match": "external_id",
        "lawful_basis": "consent",
        "purpose": "child-maintenance",
        "consent_required": True,
        "settings": {
            "base_url": social_url,
            "client_id": "SOCIAL_CLIENT_ID",
            "client_secret": "SOCIAL_CLIENT_SECRET",
            "batch_size": 50,
        },
        **FAST,
    }
    # The steward's whole job for a new source: this file and a grant. No code.
    benefits_doc = {
        "kind": "rest",
        "description": "Benefit awards held by a partner department",
        "owner": "partner-liaison@example.gov.uk",
        "match": "nino",
        "lawful_basis": "public_task",
        "purpose": "child-maintenance",
        "consent_required": False,
        "settings": {
            "url": f"{benefits_url}/benefits/{{key}}",
            "auth": {"type": "bearer", "token_env": "PARTNER_BENEFITS_TOKEN"},
            "batch": {"url": f"{benefits_url}/benefits?ninos={{keys}}", "records_path": "items", "key_path": "nino"},
            "fields": {
                "award_type": {"path": "award.type", "type": "str", "required": True},
                "weekly_pence": {"path": "award.weekly_pence", "type": "int"},
                "since": {"path": "since", "type": "date"},
            },
        },
        **FAST,
    }
    (directory / "social.yaml").write_text(yaml.safe_dump(social_doc), encoding="utf-8")
    (directory / "partner_benefits.yaml").write_text(yaml.safe_dump(benefits_doc), encoding="utf-8")


def write_policy(path: Path) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy["grants"] += [
        {
            "role": "caseworker",
            "purpose": "child-maintenance",
            "connector": "partner_benefits",
            "read": ["Person.partnerBenefits", "PartnerBenefitsRecord.*", "ConnectorProvenance.*"],
        },
        {
            # A grant that names the field for the wrong purpose: the connector's purpose still wins.
            "role": "caseworker",
            "purpose": "benefits-assessment",
            "connector": "social",
            "read": ["Person.socialProfile", "SocialProfile.*", "ConnectorProvenance.*"],
        },
    ]
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")


@pytest.fixture(scope="module")
async def capp(
    settings: Settings,
    social: SocialSandbox,
    benefits: tuple[str, dict[str, int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Starlette]:
    directory = tmp_path_factory.mktemp("connectors")
    policy = tmp_path_factory.mktemp("policy") / "policies.yaml"
    write_config(directory, social.url, benefits[0])
    write_policy(policy)
    os.environ["PARTNER_BENEFITS_TOKEN"] = BENEFITS_TOKEN
    try:
        application = create_app(settings.model_copy(update={"connectors_dir": directory, "policy_file": policy}))
    finally:
        del os.environ["PARTNER_BENEFITS_TOKEN"]
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def cgql(capp: Starlette, caseworker: dict[str, str], social: SocialSandbox) -> AsyncIterator[Any]:
    fresh(social)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=capp), base_url="http://hub.test") as client:

        async def run(
            query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
        ) -> Any:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or caseworker
            )
            assert response.status_code == 200, response.text
            return response.json()

        yield run
    fresh(social)


def fresh(social: SocialSandbox) -> None:
    """Zero the sandbox's counters and clear faults; its tokens stay valid (as a real upstream's would)."""
    social.state.clear()
    social.state.calls.clear()
    social.state.batches.clear()


def source(capp: Starlette, name: str) -> Source:
    resources: Resources = capp.state.resources
    assert resources.connectors is not None
    return resources.connectors.get(name)


async def linked(graph: Graph, person_id: str, *, consent: bool = True) -> str:
    """Link a person to a fresh sandbox profile (and record their consent); the profile id."""
    external = f"p-{secrets.token_hex(8)}"
    await link_identity(graph, person_id, "social", external, method="test", linked_by="test")
    if consent:
        await grant_consent(graph, person_id, "social", "child-maintenance")
    return external


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# --------------------------------------------------------------------------------------------------------
# Values, provenance, typed fields from YAML
# --------------------------------------------------------------------------------------------------------


async def test_social_profile_resolves_with_provenance(cgql: Any, make_person: MakePerson, graph: Graph) -> None:
    me = await make_person()
    external = await linked(graph, me.id)
    body = await cgql(f'{{ person(id: "{me.id}") {{ givenName {PROFILE} }} }}')
    assert "errors" not in body, body
    profile = body["data"]["person"]["socialProfile"]
    upstream = profile_for(external)
    assert upstream is not None
    assert profile["headline"] == upstream["headline"]
    assert profile["location"] == upstream["location"]["name"]
    assert profile["connections"] == upstream["connectionsCount"]
    assert profile["provenance"] == {
        "connector": "social",
        "fetchedAt": profile["provenance"]["fetchedAt"],
        "stale": False,
        "cached": False,
        "matchConfidence": 1.0,
    }
    again = await cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')
    assert again["data"]["person"]["socialProfile"]["provenance"]["cached"] is True


async def test_a_yaml_only_rest_connector_is_typed_fields_that_resolve(
    cgql: Any, make_person: MakePerson, capp: Starlette
) -> None:
    me = await make_person()
    fields = "awardType weeklyPence since provenance { connector }"
    query = f'{{ person(id: "{me.id}") {{ partnerBenefits {{ {fields} }} }} }}'
    body = await cgql(query)
    assert "errors" not in body, body
    record = benefits_record(me.nino or "")
    assert body["data"]["person"]["partnerBenefits"] == {
        "awardType": record["award"]["type"],
        "weeklyPence": record["award"]["weekly_pence"],
        "since": "2024-01-05",
        "provenance": {"connector": "partner_benefits"},
    }
    sdl = await cgql('{ __type(name: "PartnerBenefitsRecord") { fields { name type { name ofType { name } } } } }')
    # typed as declared in the YAML, not strings
    fields = {f["name"]: f["type"]["name"] or f["type"]["ofType"]["name"] for f in sdl["data"]["__type"]["fields"]}
    assert fields == {"awardType": "String", "weeklyPence": "Int", "since": "Date", "provenance": "ConnectorProvenance"}


# --------------------------------------------------------------------------------------------------------
# Faults: the core record always, a typed error for the connector
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(mode="error_500"), "CONNECTOR_UNAVAILABLE"),
        (Fault(mode="rate_limit_429", retry_after=1), "CONNECTOR_UNAVAILABLE"),
        (Fault(mode="latency", latency=3.0), "CONNECTOR_TIMEOUT"),
        (Fault(mode="hang"), "CONNECTOR_TIMEOUT"),
        (Fault(mode="garbage_json"), "CONNECTOR_BAD_RESPONSE"),
        (Fault(mode="wrong_schema"), "CONNECTOR_BAD_RESPONSE"),
        (Fault(mode="auth_failure", target="all"), "CONNECTOR_AUTH_FAILED"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.mode,
)
async def test_every_fault_gives_the_core_record_and_a_typed_error(
    cgql: Any, make_person: MakePerson, graph: Graph, social: SocialSandbox, fault: Fault, code: str
) -> None:
    me = await make_person(given="Faulty")
    await linked(graph, me.id)
    social.state.revoke_tokens()  # the token endpoint is asked again, so auth faults reach it
    social.state.inject(fault)
    body = await cgql(f'{{ person(id: "{me.id}") {{ givenName nino {PROFILE} }} }}')
    social.state.clear()
    assert body["data"]["person"]["givenName"] == "Faulty"
    assert body["data"]["person"]["nino"] == me.nino
    assert body["data"]["person"]["socialProfile"] is None
    [error] = body["errors"]
    assert error["path"] == ["person", "socialProfile"]
    assert error["extensions"] == {"code": code, "connector": "social", "staleServed": False}


async def test_a_stale_value_is_served_marked_stale_with_a_warning(
    cgql: Any, make_person: MakePerson, graph: Graph, social: SocialSandbox, capp: Starlette
) -> None:
    me = await make_person()
    external = await linked(graph, me.id)
    cache = source(capp, "social").cache
    assert cache is not None
    old = SocialRecord(headline="Yesterday's headline", connections=7)
    await cache.put_many({external: old}, datetime.now(UTC) - timedelta(seconds=120))  # past the 60 s ttl
    social.state.inject(Fault(mode="error_500"))
    body = await cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')
    profile = body["data"]["person"]["socialProfile"]
    assert profile["headline"] == "Yesterday's headline"
    assert profile["provenance"]["stale"] is True
    [warning] = body["errors"]
    assert warning["path"] == ["person", "socialProfile"]
    assert warning["extensions"] == {
        "code": "CONNECTOR_UNAVAILABLE",
        "connector": "social",
        "staleServed": True,
        "severity": "WARNING",
    }


# --------------------------------------------------------------------------------------------------------
# Consent
# --------------------------------------------------------------------------------------------------------


async def test_without_consent_nothing_is_fetched(
    cgql: Any, make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    me = await make_person(given="Unconsented")
    await linked(graph, me.id, consent=False)
    body = await cgql(f'{{ person(id: "{me.id}") {{ givenName {PROFILE} }} }}')
    assert body["data"]["person"] == {"givenName": "Unconsented", "socialProfile": None}
    assert codes(body) == ["CONSENT_REQUIRED"]
    assert body["errors"][0]["extensions"]["connector"] == "social"
    assert social.state.api_calls == 0


async def test_granting_then_revoking_consent_stops_calls_and_purges_the_cache(
    cgql: Any,
    make_person: MakePerson,
    graph: Graph,
    social: SocialSandbox,
    capp: Starlette,
    token: MintToken,
    settings: Settings,
) -> None:
    me = await make_person()
    external = await linked(graph, me.id, consent=False)
    subject = f"urn:fdc:test:{secrets.token_hex(8)}"
    await link_identity(graph, me.id, settings.auth_citizen_source, subject, method="test", linked_by="test")
    citizen = {"authorization": f"Bearer {token(None, subject=subject, vot='Cl.Cm.P2')}"}

    wrong = await cgql(
        'mutation { grantConsent(connector: "social", purpose: "marketing") '
        "{ __typename ... on InvalidInput { field } } }",
        headers=citizen,
    )
    assert wrong["data"]["grantConsent"] == {"__typename": "InvalidInput", "field": "purpose"}
    granted = await cgql(
        'mutation { grantConsent(connector: "social", purpose: "child-maintenance") '
        "{ __typename ... on Consent { connector purpose active revokedAt } } }",
        headers=citizen,
    )
    assert granted["data"]["grantConsent"] == {
        "__typename": "Consent",
        "connector": "social",
        "purpose": "child-maintenance",
        "active": True,
        "revokedAt": None,
    }
    body = await cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} consents {{ connector active }} }} }}')
    assert body["data"]["person"]["socialProfile"]["headline"]
    assert body["data"]["person"]["consents"] == [{"connector": "social", "active": True}]
    assert social.state.api_calls == 1
    cache = source(capp, "social").cache
    assert cache is not None
    redis: aioredis.Redis = capp.state.resources.redis
    assert await redis.exists(cache.key(external)) == 1

    revoked = await cgql(
        'mutation { revokeConsent(connector: "social") { __typename ... on ConsentRevoked { purgedRecords '
        "revoked { active revokedAt } } } }",
        headers=citizen,
    )
    outcome = revoked["data"]["revokeConsent"]
    assert outcome["__typename"] == "ConsentRevoked" and outcome["purgedRecords"] == 1
    assert outcome["revoked"][0]["active"] is False and outcome["revoked"][0]["revokedAt"]
    assert await redis.exists(cache.key(external)) == 0  # the cached profile is gone

    after = await cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')
    assert after["data"]["person"]["socialProfile"] is None
    assert codes(after) == ["CONSENT_REQUIRED"]
    assert social.state.api_calls == 1  # no call after the revocation
    mine = await cgql("{ me { consents { connector active } } }", headers=citizen)
    assert mine["data"]["me"]["consents"] == [{"connector": "social", "active": False}]


# --------------------------------------------------------------------------------------------------------
# Coalescing and batching
# --------------------------------------------------------------------------------------------------------


async def test_100_concurrent_queries_for_one_person_make_one_upstream_call(
    cgql: Any, make_person: MakePerson, graph: Graph, social: SocialSandbox, capp: Starlette
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    stats = source(capp, "social").stats
    coalesced, hits = stats.coalesced, stats.cache_hits
    bodies = await asyncio.gather(*(cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}') for _ in range(100)))
    assert all(b["data"]["person"]["socialProfile"]["headline"] for b in bodies)
    assert social.state.api_calls == 1
    # the other 99 joined the call in flight, or found its answer in the cache
    assert (stats.coalesced - coalesced) + (stats.cache_hits - hits) == 99
    assert stats.coalesced > coalesced


async def test_50_people_cost_one_batched_call_per_connector(
    cgql: Any,
    make_person: MakePerson,
    graph: Graph,
    social: SocialSandbox,
    benefits: tuple[str, dict[str, int]],
    family: str,
) -> None:
    people = [await make_person(given=f"Kid{chr(97 + i % 26)}") for i in range(50)]
    externals = {p.id: await linked(graph, p.id) for p in people}
    before = dict(benefits[1])
    body = await cgql(
        f'{{ people(filter: {{ familyName: "{family}" }}, first: 50) '
        "{ nodes { id socialProfile { headline } partnerBenefits { awardType } } } }"
    )
    assert "errors" not in body, body
    nodes = body["data"]["people"]["nodes"]
    assert len(nodes) == 50 and all(n["socialProfile"] and n["partnerBenefits"] for n in nodes)
    assert social.state.calls["batch"] == 1 and social.state.calls["profile"] == 0
    assert sorted(social.state.batches[0]) == sorted(externals.values())
    assert benefits[1]["batch"] - before["batch"] == 1 and benefits[1]["single"] == before["single"]


# --------------------------------------------------------------------------------------------------------
# Policy: grants and purpose
# --------------------------------------------------------------------------------------------------------


async def test_a_principal_without_the_purpose_is_forbidden_and_nothing_is_called(
    cgql: Any, make_person: MakePerson, graph: Graph, social: SocialSandbox, token: MintToken
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    # granted the field, but for benefits assessment: not the connector's declared purpose
    benefits_caseworker = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "benefits-assessment"}
    body = await cgql(
        f'{{ person(id: "{me.id}") {{ givenName socialProfile {{ headline }} }} }}', headers=benefits_caseworker
    )
    assert body["data"]["person"]["givenName"] == me.given_name
    assert body["data"]["person"]["socialProfile"] is None
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "connector": "social"}
    # no grant at all (HMRC's data-sharing agreement does not cover it)
    partner = {"authorization": f"Bearer {token(['partner'], department='HMRC', purpose='earnings-verification')}"}
    body = await cgql(f'{{ person(id: "{me.id}") {{ givenName socialProfile {{ headline }} }} }}', headers=partner)
    assert body["data"]["person"]["socialProfile"] is None
    assert codes(body) == ["FORBIDDEN"]
    assert social.state.api_calls == 0
    log = (await access_log(graph, [me.id]))[0]
    assert all("socialProfile" not in e.fields for e in log)  # a refused read is not recorded as one


async def test_each_request_gets_its_own_connector_loaders(capp: Starlette, graph: Graph) -> None:
    resources: Resources = capp.state.resources
    from schema.connectors.loaders import ConnectorRequest

    assert resources.connectors is not None
    one = Context(graph=graph, connectors=ConnectorRequest(resources.connectors, graph))
    two = Context(graph=graph, connectors=ConnectorRequest(resources.connectors, graph))
    assert one.connectors is not None and two.connectors is not None
    assert one.connectors.loader("social") is one.connectors.loader("social")
    assert one.connectors.loader("social") is not two.connectors.loader("social")


# --------------------------------------------------------------------------------------------------------
# linkIdentity
# --------------------------------------------------------------------------------------------------------

LINK = """mutation($input: LinkIdentityInput!) { linkIdentity(input: $input) {
  __typename ... on IdentityLinked { created person { id } } ... on UserError { code message }
  ... on IdentityTakenError { source } ... on InvalidInput { field } } }"""


async def test_a_steward_links_an_identity_and_the_profile_resolves(
    cgql: Any, make_person: MakePerson, graph: Graph, token: MintToken, caseworker: dict[str, str]
) -> None:
    me, other = await make_person(), await make_person()
    await grant_consent(graph, me.id, "social", "child-maintenance")
    steward = {"authorization": f"Bearer {token(['steward'], subject='steward-1')}", "x-purpose": "data-stewardship"}
    external = f"p-{secrets.token_hex(8)}"
    variables = {"input": {"personId": me.id, "source": "social", "externalId": external}}
    body = await cgql(LINK, variables, headers=steward)
    assert body["data"]["linkIdentity"] == {"__typename": "IdentityLinked", "created": True, "person": {"id": me.id}}
    again = await cgql(LINK, variables, headers=steward)
    assert again["data"]["linkIdentity"]["created"] is False
    taken = await cgql(LINK, {"input": {**variables["input"], "personId": other.id}}, headers=steward)
    assert taken["data"]["linkIdentity"]["__typename"] == "IdentityTakenError"
    assert taken["data"]["linkIdentity"]["code"] == "IDENTITY_TAKEN"
    bad = await cgql(LINK, {"input": {**variables["input"], "externalId": "has space"}}, headers=steward)
    assert bad["data"]["linkIdentity"] == {
        "__typename": "InvalidInput",
        "code": "BAD_USER_INPUT",
        "message": bad["data"]["linkIdentity"]["message"],
        "field": "externalId",
    }
    missing = await cgql(
        LINK, {"input": {**variables["input"], "personId": "7b0e4c1e-0000-4000-8000-000000000000"}}, headers=steward
    )
    assert missing["data"]["linkIdentity"]["code"] == "NOT_FOUND"
    refused = await cgql(LINK, variables)  # a caseworker may not link
    assert codes(refused) == ["FORBIDDEN"]

    profile = await cgql(f'{{ person(id: "{me.id}") {{ socialProfile {{ headline }} }} }}', headers=caseworker)
    assert profile["data"]["person"]["socialProfile"]["headline"] == (profile_for(external) or {})["headline"]
    log = (await access_log(graph, [me.id]))[0]
    assert any(e.actor == "steward-1" and "linkIdentity" in e.fields for e in log)


async def test_subject_access_export_includes_cached_connector_records_until_consent_is_revoked(
    cgql: Any, make_person: MakePerson, graph: Graph, token: MintToken, settings: Settings, social: SocialSandbox
) -> None:
    me = await make_person()
    external = await linked(graph, me.id)
    subject = f"urn:fdc:test:{secrets.token_hex(8)}"
    await link_identity(graph, me.id, settings.auth_citizen_source, subject, method="test", linked_by="test")
    citizen = {"authorization": f"Bearer {token(None, subject=subject, vot='Cl.Cm.P2')}"}

    before = await cgql("{ subjectAccessExport }", headers=citizen)
    assert before["data"]["subjectAccessExport"]["connectorData"] == []  # nothing fetched, nothing held
    read = await cgql(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')
    headline = read["data"]["person"]["socialProfile"]["headline"]
    calls = social.state.api_calls

    held = (await cgql("{ subjectAccessExport }", headers=citizen))["data"]["subjectAccessExport"]["connectorData"]
    assert [(h["connector"], h["matchedBy"], h["stale"]) for h in held] == [("social", "external_id", False)]
    assert held[0]["record"]["headline"] == headline and held[0]["fetchedAt"]
    assert social.state.api_calls == calls, "an export reads the cache, it never calls the upstream"
    assert external not in str(held)  # the record, not the key it is filed under

    await cgql('mutation { revokeConsent(connector: "social") { __typename } }', headers=citizen)
    after = await cgql("{ subjectAccessExport }", headers=citizen)
    assert after["data"]["subjectAccessExport"]["connectorData"] == []
