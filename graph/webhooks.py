"""Webhook receipts: a pushed event and the record that it was received, committed in one transaction.

`(r:WebhookReceipt {id, connector, webhookId, bodySha256, receivedAt})`, `id` = `<connector>:<webhook-id>`
(unique). The receipt is MERGEd first in the same write transaction as the event's effect, so:

- a duplicate delivery finds the receipt and applies nothing;
- concurrent duplicates race on the unique key: one commits, the others raise ConstraintError and, run
  again, find the winner's receipt (shared PLATFORM.md: ArcadeDB's MERGE does not wait for the winner);
- a failure before commit (unknown case, bad value, a killed process) leaves neither the receipt nor the
  effect, so the sender's retry applies the event exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from graph.driver import Graph, Tx
from graph.maintenance import PaymentReceipt, checked_payment, merge_payment, write_merging

MAX_WEBHOOK_ID = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery: who sent it, its id, and a digest of its body (a reused id with another body
    is not a duplicate but a sender's error)."""

    connector: str
    webhook_id: str
    body_sha256: str

    @property
    def receipt_id(self) -> str:
        return f"{self.connector}:{self.webhook_id}"


@dataclass(frozen=True, slots=True)
class PaymentDelivered:
    """`duplicate`: the delivery had been received before (nothing applied now). `receipt` is None then.

    `same_body` is False when the earlier delivery with this id carried a different body.
    """

    duplicate: bool
    same_body: bool = True
    receipt: PaymentReceipt | None = None


async def _claim(tx: Tx, delivery: Delivery) -> tuple[bool, bool]:
    """MERGE the receipt; (created now, same body as the stored one)."""
    token = str(uuid.uuid4())
    row = await tx.fetch_one(
        "MERGE (r:WebhookReceipt {id: $id}) "
        "ON CREATE SET r.connector = $connector, r.webhookId = $webhook, r.bodySha256 = $digest, "
        "r.receivedAt = $now, r.token = $token "
        "RETURN r.token = $token AS created, r.bodySha256 = $digest AS same",
        {
            "id": delivery.receipt_id,
            "connector": delivery.connector,
            "webhook": delivery.webhook_id,
            "digest": delivery.body_sha256,
            "now": datetime.now(UTC),
            "token": token,
        },
    )
    assert row is not None
    return bool(row["created"]), bool(row["same"])


async def receive_payment(
    graph: Graph,
    delivery: Delivery,
    case_id: str,
    amount_pence: int,
    paid_at: datetime,
    receipt_key: str,
    due_date: date | None = None,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> PaymentDelivered:
    """Record the delivery and the payment it reports in one transaction, once per webhook id.

    `before_commit` runs inside the transaction once every write is made, just before the commit: the
    crash tests use it to kill the process at exactly that point. Production passes nothing.
    """
    key, props = checked_payment(amount_pence, paid_at, receipt_key, due_date)

    async def work(tx: Tx) -> PaymentDelivered:
        created, same = await _claim(tx, delivery)
        if not created:
            return PaymentDelivered(duplicate=True, same_body=same)
        delivered = PaymentDelivered(duplicate=False, receipt=await merge_payment(tx, case_id, key, props))
        if before_commit is not None:
            await before_commit()
        return delivered

    return await write_merging(graph, work)


async def receipt_exists(graph: Graph, connector: str, webhook_id: str) -> bool:
    async def work(tx: Tx) -> bool:
        row = await tx.fetch_one(
            "OPTIONAL MATCH (r:WebhookReceipt {id: $id}) RETURN r IS NOT NULL AS found",
            {"id": f"{connector}:{webhook_id}"},
        )
        return bool(row and row["found"])

    return await graph.read(work)
