"""The steward API (the contract with the steward console): live health, on/off shared by replicas, test fetches,
provenance. Two hub apps over the same graph and valkey stand for two replicas; the social-profile sandbox is a
real HTTP upstream whose calls are counted at the upstream.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import yaml
from conftest import MakePerson, MintToken
from starlette.applications import Starlette

from connectors.sandbox import Fault, SandboxState, SocialSandbox
from connectors.switches import DEFAULT_SWITCH_KEY
from graph.audit import access_log
from graph.consent import grant_consent
from graph.driver import Graph
from graph.identity import link_identity
from hub.app import create_app
from hub.settings import DEFAULT_POLICY, Settings

Run = Callable[..., Awaitable[dict[str, Any]]]

POLICY = {
    "timeout": {"attempt": 0.5, "total": 1.5},
    "retry": {"attempts": 1},
    "breaker": {"failure_threshold": 2, "reset_timeout": 0.4},
    "cache": {"ttl": 60, "max_staleness": 600},
}
STATUS = (
    "name kind description owner purpose enabled breakerState latencyP50Ms latencyP99Ms errorRate cacheHitRate "
    "lastSuccessAt lastError changedBy changeReason upstreamCalls personField"
)
PROFILE = "watchedProfile { headline provenance { connector stale } }"


@pytest.fixture(scope="module")
async def social() -> AsyncIterator[SocialSandbox]:
    async with SocialSandbox(SandboxState()) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def replicas(
    settings: Settings, social: SocialSandbox, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Starlette, Starlette]]:
    """Two hub apps (replicas) on one graph and one valkey, both with the social connector."""
    directory = tmp_path_factory.mktemp("steward-connectors")
    document = {
        "kind": "social_profile",
        "description": "Professional-network profile (sandbox)",
        "owner": "stewards@example.gov.uk",
        "match": "external_id",
        "lawful_basis": "consent",
        "purpose": "child-maintenance",
        "consent_required": True,
        "settings": {"base_url": social.url, "client_id": "SOCIAL_CLIENT_ID", "client_secret": "SOCIAL_CLIENT_SECRET"},
        **POLICY,
    }
    (directory / "watched.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    # A source whose secret is not in the environment: it starts disabled, and stays so.
    dormant = {
        "kind": "rest",
        "description": "A partner API whose token is not deployed yet",
        "owner": "stewards@example.gov.uk",
        "match": "nino",
        "lawful_basis": "public_task",
        "purpose": "child-maintenance",
        "consent_required": False,
        "settings": {
            "url": "http://127.0.0.1:9/people/{key}",
            "auth": {"type": "bearer", "token_env": "DORMANT_TOKEN_NOT_SET"},
            "fields": {"reference": {"path": "ref", "type": "str"}},
        },
    }
    (directory / "dormant.yaml").write_text(yaml.safe_dump(dormant), encoding="utf-8")
    # Its own connector name, so no other module's app (same graph, same valkey) meets these switches.
    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy["grants"].append(
        {
            "role": "caseworker",
            "purpose": "child-maintenance",
            "connector": "watched",
            "read": ["Person.watchedProfile", "SocialProfile.*", "ConnectorProvenance.*"],
        }
    )
    policy_file = directory.parent / "steward-policies.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    configured = settings.model_copy(update={"connectors_dir": directory, "policy_file": policy_file})
    first, second = create_app(configured), create_app(configured)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        yield first, second


@pytest.fixture(autouse=True)
async def fresh(social: SocialSandbox, settings: Settings) -> AsyncIterator[None]:
    """Each test starts with no faults, no counted calls and no run-time switch (shared valkey)."""
    social.state.clear()
    social.state.calls.clear()
    yield
    social.state.clear()
    client = aioredis.Redis.from_url(settings.redis_url or "")
    await client.hdel(DEFAULT_SWITCH_KEY, "watched", "dormant")
    await client.aclose()


@pytest.fixture(scope="module")
def steward(token: MintToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token(['steward'], subject='steward-7')}", "x-purpose": "data-stewardship"}


@pytest.fixture
async def on(replicas: tuple[Starlette, Starlette], caseworker: dict[str, str]) -> AsyncIterator[Callable[..., Run]]:
    """on(0)(query, variables, headers) runs a document on replica 0 (as the caseworker unless told)."""
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") for app in replicas
    ]

    def pick(index: int) -> Run:
        async def run(
            query: str,
            variables: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None,
            status: int = 200,
        ) -> Any:
            response = await clients[index].post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or caseworker
            )
            assert response.status_code == status, response.text
            return response.json()

        return run

    yield pick
    for client in clients:
        await client.aclose()


async def linked(graph: Graph, person_id: str, *, consent: bool = True) -> str:
    external = f"p-{secrets.token_hex(8)}"
    await link_identity(graph, person_id, "watched", external, method="test", linked_by="test")
    if consent:
        await grant_consent(graph, person_id, "watched", "child-maintenance")
    return external


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def status(run: Run, steward: dict[str, str]) -> dict[str, Any]:
    body = await run(f"{{ connectors {{ {STATUS} }} }}", headers=steward)
    assert "errors" not in body, body
    [social] = [c for c in body["data"]["connectors"] if c["name"] == "watched"]
    return social


SET = """mutation($name: String!, $enabled: Boolean!, $reason: String) {
  setConnectorEnabled(name: $name, enabled: $enabled, reason: $reason) {
    __typename
    ... on ConnectorStatus { name enabled changedBy changeReason decisions(limit: 1) { action actor reason } }
    ... on NotFoundError { message id }
    ... on InvalidInput { message field }
  }
}"""

TEST = """mutation($name: String!, $person: ID!) {
  testConnector(name: $name, personId: $person) {
    __typename
    ... on ConnectorTestSuccess { connector latencyMs record provenance { connector cached stale matchConfidence } }
    ... on ConnectorTestFailure { connector code message }
    ... on NotFoundError { message id }
    ... on InvalidInput { message field }
  }
}"""


# --------------------------------------------------------------------------------------------------------


async def test_connectors_lists_each_connector_with_its_declaration_and_health(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    read = await on(0)(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')
    assert read["data"]["person"]["watchedProfile"]["headline"], read
    again = await on(0)(f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}')  # a cache hit
    assert again["data"]["person"]["watchedProfile"]["provenance"]["connector"] == "watched"
    found = await status(on(0), steward)
    assert found["kind"] == "social_profile" and found["owner"] == "stewards@example.gov.uk"
    assert found["personField"] == "watchedProfile"
    assert found["purpose"] == "child-maintenance" and found["enabled"] is True
    assert found["breakerState"] == "CLOSED" and found["lastError"] is None
    assert found["latencyP50Ms"] > 0 and found["latencyP99Ms"] >= found["latencyP50Ms"]
    assert found["errorRate"] == 0.0 and 0 < found["cacheHitRate"] < 1
    assert found["lastSuccessAt"] is not None and found["upstreamCalls"] >= 1


async def test_disabling_on_one_replica_answers_connector_disabled_on_another(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    query = f'{{ person(id: "{me.id}") {{ givenName {PROFILE} }} }}'
    assert (await on(1)(query))["data"]["person"]["watchedProfile"] is not None
    calls = social.state.api_calls

    done = await on(0)(SET, {"name": "watched", "enabled": False, "reason": "upstream breach under review"}, steward)
    result = done["data"]["setConnectorEnabled"]
    assert result["__typename"] == "ConnectorStatus" and result["enabled"] is False
    assert result["changedBy"] == "steward-7" and result["changeReason"] == "upstream breach under review"
    why = "upstream breach under review"
    assert result["decisions"] == [{"action": "disable", "actor": "steward-7", "reason": why}]

    # The other replica, on its very next query: the core record, and a typed error for the source.
    other = await on(1)(f'{{ person(id: "{me.id}") {{ givenName {PROFILE} }} }}')
    assert other["data"]["person"]["givenName"] == me.given_name
    assert other["data"]["person"]["watchedProfile"] is None
    [error] = other["errors"]
    assert error["extensions"]["code"] == "CONNECTOR_DISABLED" and error["extensions"]["connector"] == "watched"
    assert social.state.api_calls == calls, "a disabled connector calls nothing"
    assert (await status(on(1), steward))["enabled"] is False

    back = await on(1)(SET, {"name": "watched", "enabled": True, "reason": "cleared"}, steward)
    assert back["data"]["setConnectorEnabled"]["enabled"] is True
    assert (await on(0)(query))["data"]["person"]["watchedProfile"] is not None


async def test_the_breaker_opens_after_upstream_failures_and_the_steward_sees_it_recover(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    people = [await make_person() for _ in range(3)]
    for p in people:
        await linked(graph, p.id)
    social.state.inject(Fault(mode="error_500"))
    for p in people[:2]:  # two failed calls: the threshold
        body = await on(0)(f'{{ person(id: "{p.id}") {{ {PROFILE} }} }}')
        assert codes(body) == ["CONNECTOR_UNAVAILABLE"]
    calls = social.state.api_calls
    refused = await on(0)(f'{{ person(id: "{people[2].id}") {{ {PROFILE} }} }}')
    assert codes(refused) == ["CONNECTOR_UNAVAILABLE"] and "breaker" in refused["errors"][0]["message"]
    assert social.state.api_calls == calls, "an open breaker does not call the upstream"

    found = await status(on(0), steward)
    assert found["breakerState"] == "OPEN"
    assert found["errorRate"] > 0 and found["lastError"].startswith("CONNECTOR_UNAVAILABLE")
    assert (await status(on(1), steward))["breakerState"] == "CLOSED", "each replica judges what it sees"

    social.state.clear()
    await asyncio.sleep(0.45)  # reset_timeout: the next call is a probe
    assert (await status(on(0), steward))["breakerState"] == "HALF_OPEN"
    healed = await on(0)(f'{{ person(id: "{people[2].id}") {{ {PROFILE} }} }}')
    assert healed["data"]["person"]["watchedProfile"]["headline"], healed
    found = await status(on(0), steward)
    assert found["breakerState"] == "CLOSED" and 0 < found["errorRate"] < 1


async def test_test_connector_fetches_live_and_is_audited(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    me = await make_person()
    external = await linked(graph, me.id)
    body = await on(0)(TEST, {"name": "watched", "person": me.id}, steward)
    result = body["data"]["testConnector"]
    assert result["__typename"] == "ConnectorTestSuccess", body
    assert result["record"]["headline"] and result["latencyMs"] > 0
    assert result["provenance"] == {"connector": "watched", "cached": False, "stale": False, "matchConfidence": 1.0}
    assert social.state.calls["profile"] == 1
    # Again: past the cache, a live call each time.
    await on(0)(TEST, {"name": "watched", "person": me.id}, steward)
    assert social.state.calls["profile"] == 2
    [log] = await access_log(graph, [me.id])
    steward_reads = [e for e in log if e.actor == "steward-7"]
    assert steward_reads and "testConnector:watched" in steward_reads[0].fields
    assert steward_reads[0].purpose == "data-stewardship"

    social.state.inject(Fault(mode="error_500"))
    failed = (await on(0)(TEST, {"name": "watched", "person": me.id}, steward))["data"]["testConnector"]
    assert failed["__typename"] == "ConnectorTestFailure" and failed["code"] == "CONNECTOR_UNAVAILABLE"
    assert external not in failed["message"]


async def test_test_connector_refuses_clearly(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, social: SocialSandbox
) -> None:
    no_consent = await make_person()
    await linked(graph, no_consent.id, consent=False)
    unlinked = await make_person()
    await grant_consent(graph, unlinked.id, "watched", "child-maintenance")
    run = on(0)

    async def test(name: str, person: str) -> dict[str, Any]:
        body = await run(TEST, {"name": name, "person": person}, steward)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["testConnector"]
        return result

    assert (await test("watched", no_consent.id))["code"] == "CONSENT_REQUIRED"
    assert (await test("watched", unlinked.id))["code"] == "NOT_LINKED"
    assert (await test("nope", unlinked.id))["__typename"] == "NotFoundError"
    assert (await test("watched", "not-a-uuid"))["field"] == "personId"
    missing = await test("watched", "00000000-0000-4000-8000-000000000000")
    assert missing["__typename"] == "NotFoundError"
    assert social.state.api_calls == 0


async def test_set_connector_enabled_refuses_bad_input_and_other_roles(
    on: Callable[..., Run], steward: dict[str, str], token: MintToken
) -> None:
    run = on(0)
    unknown = await run(SET, {"name": "nope", "enabled": False}, steward)
    assert unknown["data"]["setConnectorEnabled"] == {
        "__typename": "NotFoundError",
        "message": "no connector named 'nope'",
        "id": "nope",
    }
    long = await run(SET, {"name": "watched", "enabled": False, "reason": "x" * 501}, steward)
    assert long["data"]["setConnectorEnabled"]["field"] == "reason"
    assert (await status(run, steward))["enabled"] is True, "bad input changes nothing"

    caseworker_try = await run(SET, {"name": "watched", "enabled": False})
    assert codes(caseworker_try) == ["FORBIDDEN"] and caseworker_try["data"]["setConnectorEnabled"] is None
    no_purpose = {"authorization": steward["authorization"]}
    assert codes(await run("{ connectors { name } }", headers=no_purpose, status=403)) == ["PURPOSE_REQUIRED"]
    other_purpose = {**steward, "x-purpose": "child-maintenance"}
    refused = await run(SET, {"name": "watched", "enabled": False}, other_purpose, status=403)
    assert codes(refused) == ["FORBIDDEN"]
    assert (await status(run, steward))["enabled"] is True


async def test_person_provenance_lists_each_held_field(
    on: Callable[..., Run], steward: dict[str, str], make_person: MakePerson, graph: Graph, token: MintToken
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    fields = "connector field path fetchedAt stale cached matchConfidence"
    query = f'{{ person(id: "{me.id}") {{ provenance {{ {fields} }} }} }}'
    before = await on(0)(query, headers=steward)
    assert before["data"]["person"]["provenance"] == [], "nothing held before anything was fetched"

    profile = await on(0)(
        f'{{ person(id: "{me.id}") {{ watchedProfile {{ headline currentEmployer connections }} }} }}'
    )
    held = (await on(1)(query, headers=steward))["data"]["person"]["provenance"]
    by_field = {h["field"]: h for h in held}
    assert {"headline", "currentEmployer", "connections"} <= set(by_field)
    assert by_field["currentEmployer"]["path"] == "watchedProfile.currentEmployer"
    assert all(h["connector"] == "watched" and h["cached"] and not h["stale"] for h in held)
    assert by_field["headline"]["matchConfidence"] == 1.0
    assert profile["data"]["person"]["watchedProfile"]["headline"]
    # The caseworker may read it too; a citizen may not.
    assert (await on(0)(query))["data"]["person"]["provenance"] == held
    citizen = {"authorization": f"Bearer {token(subject='citizen-x')}"}
    assert codes(await on(0)(query, headers=citizen)) == ["FORBIDDEN"]


async def test_a_connector_without_its_secrets_stays_off_and_says_why(
    on: Callable[..., Run], steward: dict[str, str]
) -> None:
    run = on(0)
    body = await run("{ connectors { name enabled blocked } }", headers=steward)
    [dormant] = [c for c in body["data"]["connectors"] if c["name"] == "dormant"]
    assert dormant["enabled"] is False and "DORMANT_TOKEN_NOT_SET" in dormant["blocked"]
    switched = await run(SET, {"name": "dormant", "enabled": True, "reason": "try it"}, steward)
    result = switched["data"]["setConnectorEnabled"]
    assert result["__typename"] == "ConnectorStatus" and result["enabled"] is False, "a switch cannot conjure secrets"
    assert result["decisions"][0]["action"] == "enable", "the attempt is on record all the same"


async def test_a_switch_redis_lost_is_restored_from_the_graph_at_start_up(
    on: Callable[..., Run],
    steward: dict[str, str],
    settings: Settings,
    replicas: tuple[Starlette, Starlette],
    make_person: MakePerson,
    graph: Graph,
    caseworker: dict[str, str],
) -> None:
    me = await make_person()
    await linked(graph, me.id)
    done = await on(0)(SET, {"name": "watched", "enabled": False, "reason": "suspended agreement"}, steward)
    assert done["data"]["setConnectorEnabled"]["enabled"] is False
    client = aioredis.Redis.from_url(settings.redis_url or "")
    await client.hdel(DEFAULT_SWITCH_KEY, "watched")  # Redis lost it (flushed, replaced)
    await client.aclose()
    third = create_app(replicas[0].state.settings)
    async with third.router.lifespan_context(third):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=third), base_url="http://hub.test") as http:
            response = await http.post(
                "/graphql", json={"query": f'{{ person(id: "{me.id}") {{ {PROFILE} }} }}'}, headers=caseworker
            )
    assert codes(response.json()) == ["CONNECTOR_DISABLED"], "the steward's decision outlived Redis"
    await on(0)(SET, {"name": "watched", "enabled": True, "reason": "restored"}, steward)


async def test_decisions_about_a_connector_never_decided_are_none(graph: Graph) -> None:
    from graph.connector_decisions import decisions_for

    assert await decisions_for(graph, [f"never_{secrets.token_hex(4)}"]) == [[]]
