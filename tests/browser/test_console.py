"""The steward console in Chromium: connector health, switching a connector off (and its typed error),
test fetches, provenance, and an axe scan."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import MakePerson
from playwright.async_api import expect

from connectors.sandbox import Fault, SocialSandbox
from connectors.switches import DEFAULT_SWITCH_KEY
from graph.consent import grant_consent
from graph.driver import Graph
from graph.identity import link_identity
from hub.settings import Settings

PROFILE = "socialProfile { headline provenance { connector } }"
PURPOSE = "data-stewardship"
ENABLE = """mutation($reason: String) {
  setConnectorEnabled(name: "social", enabled: true, reason: $reason) { ... on ConnectorStatus { enabled } }
}"""


@pytest.fixture(autouse=True)
async def social_switched_back(
    settings: Settings, social: SocialSandbox, hub_url: str, hub_token: Any
) -> AsyncIterator[None]:
    """Each test starts with no faults and social on, and ends with social switched back on through the API:
    a switch is shared in valkey and its latest decision is kept in the graph, which every hub started
    later restores (deleting the valkey key alone would leave later tests with social off)."""
    social.state.clear()
    yield
    social.state.clear()
    steward = {"authorization": f"Bearer {hub_token(['steward'], subject='browser-tests')}", "x-purpose": PURPOSE}
    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as http:
        response = await http.post(
            "/graphql",
            json={"query": ENABLE, "variables": {"reason": "browser test: switched back on"}},
            headers=steward,
        )
    assert response.json()["data"]["setConnectorEnabled"]["enabled"] is True, response.text
    client = aioredis.Redis.from_url(settings.redis_url or "")
    await client.hdel(DEFAULT_SWITCH_KEY, "social")
    await client.aclose()


async def linked_person(make_person: MakePerson, graph: Graph) -> str:
    """A person linked to a sandbox profile, with consent for the social connector."""
    person = await make_person()
    await link_identity(graph, person.id, "social", f"p-{secrets.token_hex(8)}", method="test", linked_by="test")
    await grant_consent(graph, person.id, "social", "child-maintenance")
    return person.id


async def sign_in_steward(page: Any, hub_url: str) -> None:
    await page.goto(f"{hub_url}/dev/sign-in")
    await page.locator("#sign-in-steward").click()
    await page.wait_for_url(f"{hub_url}/console")
    await expect(page.locator('[data-connector="social"]')).to_be_visible()


async def caseworker_read(hub_url: str, hub_token: Any, person_id: str) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {hub_token(['caseworker'])}", "x-purpose": "child-maintenance"}
    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as http:
        response = await http.post(
            "/graphql", json={"query": f'{{ person(id: "{person_id}") {{ givenName {PROFILE} }} }}'}, headers=headers
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_steward_disables_a_connector_and_queries_then_show_its_typed_error(
    page: Any, hub_url: str, graph: Graph, make_person: MakePerson, hub_token: Any, social: SocialSandbox
) -> None:
    person_id = await linked_person(make_person, graph)
    await sign_in_steward(page, hub_url)
    card = page.locator('[data-connector="social"]')
    await expect(card.locator('[data-field="enabled"]')).to_have_text("Enabled")
    await expect(card.locator('[data-field="breaker"]')).to_have_text("Closed")

    # A test fetch while enabled: the record, live.
    await page.locator("#test-connector").select_option("social")
    await page.locator("#test-person").fill(person_id)
    await page.locator("#test-submit").click()
    await expect(page.locator('[data-test-result="success"]')).to_contain_text("social answered in")
    await expect(page.locator('[data-test-result="success"] pre')).to_contain_text("headline")

    # A reason is required: nothing changes without one.
    await page.locator("#switch-connector").select_option("social")
    await page.locator("#switch-disable").check()
    await page.locator("#switch-submit").click()
    await expect(page.locator("#switch-reason-error")).to_contain_text("Enter why")
    await expect(card.locator('[data-field="enabled"]')).to_have_text("Enabled")

    await page.locator("#switch-reason").fill("Upstream under investigation")
    await page.locator("#switch-submit").click()
    await expect(page.locator("#switch-result")).to_contain_text("social is now disabled on every replica")
    await expect(card.locator('[data-field="enabled"]')).to_have_text("Disabled")
    await expect(card).to_contain_text("Off by dev-steward")
    await expect(card).to_contain_text("Upstream under investigation")

    # The console's query now shows the typed error ...
    calls = social.state.api_calls
    await page.locator("#test-submit").click()
    failure = page.locator('[data-test-result="failure"]')
    await expect(failure.locator("[data-error-code]")).to_have_text("CONNECTOR_DISABLED")
    # ... and so does any client's query of the connector's field, through the same hub.
    body = await caseworker_read(hub_url, hub_token, person_id)
    assert body["data"]["person"]["givenName"] and body["data"]["person"]["socialProfile"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CONNECTOR_DISABLED"]
    assert social.state.api_calls == calls, "a disabled connector calls nothing upstream"

    # Switched back on from the console: the same query answers again.
    await page.locator("#switch-enable").check()
    await page.locator("#switch-reason").fill("Investigation closed")
    await page.locator("#switch-submit").click()
    await expect(card.locator('[data-field="enabled"]')).to_have_text("Enabled")
    body = await caseworker_read(hub_url, hub_token, person_id)
    assert body["data"]["person"]["socialProfile"]["headline"], body
    assert not page.problems, page.problems


async def test_provenance_of_a_persons_connector_fields(
    page: Any, hub_url: str, graph: Graph, make_person: MakePerson, hub_token: Any
) -> None:
    person_id = await linked_person(make_person, graph)
    read = await caseworker_read(hub_url, hub_token, person_id)  # the hub now holds the profile (cached)
    assert read["data"]["person"]["socialProfile"]["headline"], read
    await sign_in_steward(page, hub_url)
    await page.locator("#person-id").fill(person_id)
    await page.locator("#person-submit").click()
    rows = page.locator('[data-table="provenance"] tbody tr')
    await expect(rows.first).to_be_visible()
    await expect(page.locator('[data-table="provenance"]')).to_contain_text("socialProfile.headline")
    await expect(rows.first).to_contain_text("social")
    await expect(rows.first).to_contain_text("Fresh")
    # Someone unknown: said so, no error.
    await page.locator("#person-id").fill("6f1c1d8e-0000-4000-8000-000000000000")
    await page.locator("#person-submit").click()
    await expect(page.locator('[data-person-result="none"]')).to_be_visible()
    assert not page.problems, page.problems


async def test_the_console_needs_a_steward_token(page: Any, hub_url: str) -> None:
    await page.goto(f"{hub_url}/console")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to continue")
    assert not page.problems, page.problems


async def test_the_console_has_no_serious_accessibility_violations(page: Any, hub_url: str, axe: Any) -> None:
    await sign_in_steward(page, hub_url)
    await expect(page.locator("#switch-form")).to_be_visible()
    await page.locator("#test-submit").click()  # with an error message shown too
    await expect(page.locator("#test-person-error")).to_be_visible()
    violations, text = await axe(page)
    print(f"axe on console: {len(violations)} violation(s)\n{text}")
    assert not [v for v in violations if v["impact"] in ("serious", "critical")], text
    assert not page.problems, page.problems


async def test_connector_health_is_live_the_breaker_seen_opening_and_closing_without_reload(
    page: Any, hub_url: str, graph: Graph, make_person: MakePerson, hub_token: Any, social: SocialSandbox
) -> None:
    people = [await linked_person(make_person, graph) for _ in range(3)]
    await sign_in_steward(page, hub_url)
    card = page.locator('[data-connector="social"]')
    await expect(card.locator('[data-field="breaker"]')).to_have_text("Closed")
    await page.evaluate("window.__sameDocument = true")
    social.state.inject(Fault(mode="error_500"))
    for person_id in people[:2]:  # the failure threshold
        failed = await caseworker_read(hub_url, hub_token, person_id)
        assert [e["extensions"]["code"] for e in failed["errors"]] == ["CONNECTOR_UNAVAILABLE"]
    # The console refreshes itself (every 5 s): open, with the error rate and the last error.
    await expect(card.locator('[data-field="breaker"]')).to_have_text("Open", timeout=7_000)
    assert await card.locator('[data-field="error-rate"]').text_content() != "0.0%"
    await expect(card.locator('[data-field="last-error"]')).to_contain_text("CONNECTOR_UNAVAILABLE")
    social.state.clear()
    # After the reset timeout the next call is a probe; it succeeds and the breaker closes.
    await expect(card.locator('[data-field="breaker"]')).to_have_text("Half open", timeout=15_000)
    healed = await caseworker_read(hub_url, hub_token, people[2])
    assert healed["data"]["person"]["socialProfile"]["headline"], healed
    await expect(card.locator('[data-field="breaker"]')).to_have_text("Closed", timeout=7_000)
    await expect(card.locator('[data-field="last-success"]')).not_to_have_text("–")
    assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert not page.problems, page.problems
