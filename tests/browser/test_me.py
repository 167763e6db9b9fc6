"""The citizen's "where I stand" page in Chromium: dev sign-in, live position, access log, consents, axe."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from case_support import CaseFamily, case_family
from live_support import payment_body, signed
from playwright.async_api import expect

from graph.driver import Graph
from graph.money import Scheme

LIVE_DEADLINE_MS = 1000  # the issue: a payment shows on the page within a second, without a reload


async def sign_in_as(page: Any, hub_url: str, person_id: str) -> None:
    """Through the dev sign-in page, as a user would: pick the parent's button."""
    await page.goto(f"{hub_url}/dev/sign-in")
    await page.locator(f'button[data-person="{person_id}"]').click()
    await page.wait_for_url(f"{hub_url}/me")


async def test_signing_in_shows_the_position_access_log_and_consents(page: Any, hub_url: str, graph: Graph) -> None:
    fam = await case_family(graph, Scheme.COLLECT_AND_PAY)
    await sign_in_as(page, hub_url, fam.payer.id)
    case = page.locator(f'[data-case="{fam.case.id}"]')
    await expect(page.get_by_role("heading", level=1)).to_have_text("Where you stand")
    await expect(page.locator(".govuk-caption-l")).to_have_text(f"Paul {fam.payer.family_name}")
    await expect(case.locator('[data-position="paying"]')).to_be_visible()
    await expect(case.locator('[data-field="paid"]')).to_have_text("£50.00")  # case_family's one payment
    await expect(case.get_by_role("heading", level=2)).to_have_text("Child maintenance for Kim")
    await expect(case.locator('[data-table="recent-payments"] tbody tr')).to_have_count(1)
    # The page read the record through GraphQL as this citizen, and nobody else has: an empty access log.
    await expect(page.get_by_text("Nobody else has viewed your record.")).to_be_visible()
    assert not page.problems, page.problems


async def test_the_receiving_parent_sees_their_own_side(page: Any, hub_url: str, graph: Graph) -> None:
    fam = await case_family(graph, Scheme.COLLECT_AND_PAY)
    await sign_in_as(page, hub_url, fam.receiver.id)
    case = page.locator(f'[data-case="{fam.case.id}"]')
    await expect(case.locator('[data-position="receiving"]')).to_be_visible()
    await expect(case.locator('[data-position="paying"]')).to_have_count(0)
    await expect(case.get_by_text("Owed to you and not yet paid")).to_be_visible()
    assert not page.problems, page.problems


async def test_a_signed_payment_webhook_updates_the_page_within_a_second_without_reload(
    page: Any, hub_url: str, graph: Graph, webhook_signing_secret: str
) -> None:
    fam: CaseFamily = await case_family(graph, Scheme.COLLECT_AND_PAY, payment=False)
    await sign_in_as(page, hub_url, fam.payer.id)
    case = page.locator(f'[data-case="{fam.case.id}"]')
    paid = case.locator('[data-field="paid"]')
    await expect(paid).to_have_text("£0.00")
    # The subscription's first message (the position now) has arrived: the socket is subscribed.
    await expect(case.locator("[data-live-status]")).to_contain_text("Live: updated at")
    arrears_before = await case.locator('[data-field="arrears"]').text_content()
    await page.evaluate("window.__sameDocument = true")

    body = payment_body(fam.case.id, 4_200, f"browser:{uuid.uuid4()}")
    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as http:
        response = await http.post(
            "/webhooks/payments", content=body, headers=signed(webhook_signing_secret, f"msg_{uuid.uuid4().hex}", body)
        )
    assert response.status_code == 200, response.text
    committed = time.perf_counter()
    # Checked on every animation frame (not Playwright's back-off polling), so the figure printed is close.
    await page.wait_for_function(
        "([caseId, text]) =>"
        " document.querySelector(`[data-case='${caseId}'] [data-field='paid']`)?.textContent === text",
        arg=[fam.case.id, "£42.00"],
        polling="raf",
        timeout=LIVE_DEADLINE_MS,
    )
    print(f"payment on the page {1000 * (time.perf_counter() - committed):.0f} ms after the webhook's 200")
    await expect(paid).to_have_text("£42.00")
    assert await case.locator('[data-field="arrears"]').text_content() != arrears_before
    await expect(case.locator('[data-table="recent-payments"] tbody tr')).to_have_count(1)
    assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    await expect(page.locator("#live-announcer")).to_contain_text("was updated")
    assert not page.problems, page.problems


async def test_a_citizen_grants_and_withdraws_consent_from_the_page(page: Any, hub_url: str, graph: Graph) -> None:
    fam = await case_family(graph, payment=False)
    await sign_in_as(page, hub_url, fam.payer.id)
    row = page.locator('[data-table="consents"] tbody tr', has_text="social")
    await expect(row.get_by_text("Not allowed")).to_be_visible()
    await row.locator('button[data-grant="social"]').click()
    await expect(row.get_by_text("Allowed", exact=True)).to_be_visible()
    # The consent is the hub's, not the page's: a fresh load shows it.
    await page.reload()
    await expect(row.get_by_text("Allowed", exact=True)).to_be_visible()
    await row.locator('button[data-revoke="social"]').click()
    await expect(row.get_by_text("Not allowed")).to_be_visible()
    await page.get_by_text("Your consent history").click()
    await expect(page.get_by_role("table", name="Consents, newest first").locator("tbody tr")).to_have_count(1)
    assert not page.problems, page.problems


async def test_staff_reads_show_in_who_viewed_my_record(page: Any, hub_url: str, graph: Graph, hub_token: Any) -> None:
    fam = await case_family(graph, payment=False)
    caseworker = {"authorization": f"Bearer {hub_token(['caseworker'])}", "x-purpose": "child-maintenance"}
    async with httpx.AsyncClient(base_url=hub_url, timeout=30) as http:
        response = await http.post(
            "/graphql", json={"query": f'{{ person(id: "{fam.payer.id}") {{ givenName }} }}'}, headers=caseworker
        )
    assert response.status_code == 200, response.text
    await sign_in_as(page, hub_url, fam.payer.id)
    log = page.locator('[data-table="access-log"] tbody tr')
    await expect(log).to_have_count(1)
    await expect(log.first).to_contain_text("A caseworker")
    await expect(log.first).to_contain_text("child-maintenance")
    await expect(log.first).to_contain_text("givenName")
    assert not page.problems, page.problems


async def test_without_a_token_the_page_asks_to_sign_in(page: Any, hub_url: str) -> None:
    await page.goto(f"{hub_url}/me")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to continue")
    await page.get_by_role("link", name="Sign in with a development account").click()
    await page.wait_for_url(f"{hub_url}/dev/sign-in?as=citizen")
    assert not page.problems, page.problems


async def test_a_forged_token_is_refused_and_asks_to_sign_in_again(page: Any, hub_url: str) -> None:
    await page.goto(f"{hub_url}/me#token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to continue")
    await expect(page.get_by_text("Your sign-in has expired or is not valid here.")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_the_citizen_pages_have_no_serious_accessibility_violations(
    page: Any, hub_url: str, graph: Graph, axe: Any
) -> None:
    fam = await case_family(graph)
    await page.goto(f"{hub_url}/dev/sign-in")
    await expect(page.locator(f'button[data-person="{fam.payer.id}"]')).to_be_visible()
    for where in ("sign-in", "me"):
        if where == "me":
            await page.locator(f'button[data-person="{fam.payer.id}"]').click()
            await page.wait_for_url(f"{hub_url}/me")
            await expect(page.locator(f'[data-case="{fam.case.id}"] [data-live-status]')).to_contain_text("Live")
            await page.get_by_text("Your consent history").count()
        violations, text = await axe(page)
        print(f"axe on {where}: {len(violations)} violation(s)\n{text}")
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, f"{where}:\n{text}"
    assert not page.problems, page.problems
    # The scan is not vacuous: an image without a text alternative on the same page is reported.
    await page.evaluate("document.getElementById('content').append(document.createElement('img'))")
    violations, text = await axe(page)
    assert "image-alt" in {v["id"] for v in violations if v["impact"] in ("serious", "critical")}, text


async def test_on_a_phone_the_page_reflows_and_the_menu_opens(page: Any, hub_url: str, graph: Graph) -> None:
    """WCAG 1.4.10 reflow at 320 CSS px: no sideways scrolling; GOV.UK Frontend's own JS runs the menu."""
    fam = await case_family(graph)
    await page.set_viewport_size({"width": 320, "height": 720})
    await sign_in_as(page, hub_url, fam.payer.id)
    await expect(page.locator(f'[data-case="{fam.case.id}"] [data-field="paid"]')).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    menu = page.get_by_role("button", name="Menu")
    sign_out = page.get_by_role("link", name="Sign out")
    await expect(menu).to_be_visible()
    await expect(sign_out).to_be_hidden()
    await menu.click()
    await expect(sign_out).to_be_visible()
    assert not page.problems, page.problems
