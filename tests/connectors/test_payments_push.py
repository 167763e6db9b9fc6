"""The sandbox bank pushes a "payment received" webhook to a hub served over real HTTP: the payment lands in the
graph once (a redelivery under the same id is acknowledged as a duplicate), and the same payment shows in the
parent's `bankPayments` feed, attached to the case, when a caseworker pulls it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest
import yaml
from case_support import CaseFamily, case_family
from live_support import serve, webhook_secret

from connectors.sandbox.payments import PaymentsSandbox, PaymentsState, mandate, pay, redeliver
from graph import maintenance
from graph.consent import grant_consent
from graph.driver import Graph
from graph.identity import link_identity
from hub.settings import CONFIG_DIR, Settings

CLIENT = {"PAYMENTS_CLIENT_ID": "bank-client-7", "PAYMENTS_CLIENT_SECRET": "bank-secret-7"}


@pytest.fixture(scope="module")
async def bank() -> AsyncIterator[PaymentsSandbox]:
    state = PaymentsState(client_id=CLIENT["PAYMENTS_CLIENT_ID"], client_secret=CLIENT["PAYMENTS_CLIENT_SECRET"])
    async with PaymentsSandbox(state) as running:
        yield running


@pytest.fixture(scope="module")
def hub_url(
    settings: Settings, bank: PaymentsSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A hub with only the bank_payments connector, served on a loopback port; (base URL, webhook secret)."""
    directory = tmp_path_factory.mktemp("bank-connectors")
    document = yaml.safe_load((CONFIG_DIR / "connectors" / "bank_payments.yaml").read_text(encoding="utf-8"))
    document["settings"]["base_url"] = bank.url
    (directory / "bank_payments.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    os.environ.update(CLIENT)
    try:
        with (
            webhook_secret("bank_payments") as secret,
            serve(settings.model_copy(update={"connectors_dir": directory})) as url,
        ):
            yield url, secret
    finally:
        for name in CLIENT:
            del os.environ[name]


@pytest.fixture(scope="module")
async def family(graph: Graph) -> CaseFamily:
    return await case_family(graph, payment=False)


async def test_a_pushed_payment_lands_once_and_shows_in_the_pulled_feed(
    bank: PaymentsSandbox, hub_url: tuple[str, str], family: CaseFamily, graph: Graph, caseworker: dict[str, str]
) -> None:
    url, secret = hub_url
    account = f"acc-{uuid.uuid4().hex[:10]}"
    mandate(bank.state, account, family.case.id, 12_345)
    bank.state.hub_url, bank.state.webhook_secret = f"{url}/webhooks/bank_payments", secret
    before = (await maintenance.get_case(graph, family.case.id)).payments

    async with aiohttp.ClientSession() as session:
        delivery = await pay(bank.state, session, account, 4_321)
        assert delivery is not None and delivery.statuses == (200,)
        # The acknowledgement was lost, says the bank: it sends the same delivery again.
        again = await redeliver(bank.state, session, delivery)
        assert again.statuses == (200,)

    after = (await maintenance.get_case(graph, family.case.id)).payments
    assert [p.amount_pence for p in after] == [*(p.amount_pence for p in before), 4_321], "applied exactly once"

    # The same payment, pulled from the bank by the connector, attached to the case by its reference.
    await link_identity(graph, family.payer.id, "bank_payments", account, method="test", linked_by="test")
    await grant_consent(graph, family.payer.id, "bank_payments", "child-maintenance")
    query = (
        f'{{ person(id: "{family.payer.id}") {{ bankPayments {{ accountId paidPenceTotal '
        "payments { transactionId amountPence paidAt caseId } provenance { connector stale } } } }"
    )
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query}, headers=caseworker)
    body = response.json()
    assert "errors" not in body, body
    feed = body["data"]["person"]["bankPayments"]
    assert feed["accountId"] == account and feed["provenance"] == {"connector": "bank_payments", "stale": False}
    pushed = [p for p in feed["payments"] if p["amountPence"] == 4_321]
    assert len(pushed) == 1 and pushed[0]["caseId"] == family.case.id
    assert all(p["caseId"] == family.case.id for p in feed["payments"])
    assert feed["paidPenceTotal"] == sum(p["amountPence"] for p in feed["payments"])


async def test_a_push_with_a_wrong_secret_is_refused_and_changes_nothing(
    bank: PaymentsSandbox, hub_url: tuple[str, str], family: CaseFamily, graph: Graph
) -> None:
    url, _ = hub_url
    account = f"acc-{uuid.uuid4().hex[:10]}"
    mandate(bank.state, account, family.case.id)
    bank.state.hub_url = f"{url}/webhooks/bank_payments"
    bank.state.webhook_secret = "whsec_" + "QUJD" * 11  # not the hub's secret
    before = (await maintenance.get_case(graph, family.case.id)).payments
    async with aiohttp.ClientSession() as session:
        delivery = await pay(bank.state, session, account, 999)
    assert delivery is not None and delivery.statuses == (401,), "refused for good: not retried"
    assert (await maintenance.get_case(graph, family.case.id)).payments == before
