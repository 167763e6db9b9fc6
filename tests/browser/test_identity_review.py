"""The steward console's identity review queue in Chromium: candidates made by the real resolver with a
Splink-trained model, shown with their evidence, accepted and rejected with a reason."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from conftest import MakePerson
from playwright.async_api import expect

from graph.driver import Graph
from graph.linkage.decision import Outcome, Thresholds
from graph.linkage.resolver import ExternalRecord, Resolver
from graph.models import Person
from schema.identity.types import candidate_id

# Thresholds no real pair reaches: every candidate worth a look goes to review.
REVIEW_ALL = Thresholds(auto_link_bits=1000, review_bits=11.4, margin=5)


async def queued(graph: Graph, model: Any, source: str, external_id: str, person: Person, given: str) -> str:
    assert person.date_of_birth is not None
    record = {"givenName": given, "familyName": person.family_name, "dateOfBirth": person.date_of_birth.isoformat()}
    decision = await Resolver(graph, model, REVIEW_ALL, actor="test-linker").resolve(
        ExternalRecord(source, external_id, record)
    )
    assert decision.outcome is Outcome.REVIEW, decision.reason
    return candidate_id(source, external_id, person.id)


def birthday() -> date:
    return date(1900, 1, 1) + timedelta(days=random.SystemRandom().randrange(40_000))


async def test_a_steward_reviews_candidates_with_their_evidence(
    page: Any, hub_url: str, graph: Graph, make_person: MakePerson, linkage_model: Any, axe: Any, artifacts: Path
) -> None:
    source = f"test-{uuid.uuid4().hex[:10]}"
    eleanor = await make_person("Eleanor", born=birthday())
    robert = await make_person("Robert", born=birthday())
    accept_id = await queued(graph, linkage_model, source, "ext-1", eleanor, "Ellie")
    reject_id = await queued(graph, linkage_model, source, "ext-2", robert, "Bob")

    await page.goto(f"{hub_url}/dev/sign-in")
    await page.locator("#sign-in-steward").click()
    await page.wait_for_url(f"{hub_url}/console")
    await page.locator("#queue-source").fill(source)
    await page.locator("#queue-filter-submit").click()
    first = page.locator(f'[data-candidate="{accept_id}"]')
    second = page.locator(f'[data-candidate="{reject_id}"]')
    await expect(first).to_be_visible()
    await expect(second).to_be_visible()
    await expect(page.locator("[data-candidate]")).to_have_count(2)
    # The evidence: both records, the probability, and the waterfall of weights.
    await expect(first).to_contain_text(f"Eleanor {eleanor.family_name}")
    await expect(first).to_contain_text("ELLIE")
    await expect(first.locator('[data-field="probability"]')).to_contain_text("% match")
    bars = first.locator('[data-table="comparisons"] tbody tr')
    await expect(bars.first).to_contain_text("prior")
    await expect(first.locator('[data-table="comparisons"] caption')).to_contain_text("match weight")
    assert await bars.count() >= 4
    await page.screenshot(path=str(artifacts / "console-identity-review-queue.png"), full_page=True)
    violations, text = await axe(page)
    assert not [v for v in violations if v["impact"] in ("serious", "critical")], text

    # No decision without a reason.
    await first.locator('button[data-decide="accept"]').click()
    await expect(first.locator(".govuk-error-message")).to_contain_text("Enter the reason")
    await first.locator("textarea").fill("Ellie is Eleanor: same date of birth and surname")
    await first.locator('button[data-decide="accept"]').click()
    await expect(page.locator("#queue-result")).to_contain_text(f"Linked: {source} ext-1 (decided by dev-steward)")
    await expect(first).to_have_count(0)

    await second.locator("textarea").fill("Different person: checked the address history")
    await second.locator('button[data-decide="reject"]').click()
    await expect(page.locator("#queue-result")).to_contain_text(f"Rejected: {source} ext-2")
    await expect(page.get_by_text("No candidate links are waiting for review.")).to_be_visible()

    # The accepted link shows on the person, with who linked it.
    await page.locator("#person-id").fill(eleanor.id)
    await page.locator("#person-submit").click()
    links = page.locator('[data-table="links"]')
    await expect(links).to_contain_text("ext-1")
    await expect(links).to_contain_text("dev-steward")
    assert not page.problems, page.problems
