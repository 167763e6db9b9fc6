"""Idempotent schema migrations, applied at start-up (Cypher accepted by Neo4j 5 and ArcadeDB)."""

from __future__ import annotations

from graph.driver import Graph, Tx
from graph.linkage.blocking import backfill_full_name_keys

MIGRATIONS: tuple[str, ...] = (
    "CREATE CONSTRAINT person_id IF NOT EXISTS FOR (p:Person) REQUIRE p.id IS UNIQUE",
    "CREATE CONSTRAINT person_nino IF NOT EXISTS FOR (p:Person) REQUIRE p.nino IS UNIQUE",
    "CREATE CONSTRAINT address_id IF NOT EXISTS FOR (a:Address) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT claim_id IF NOT EXISTS FOR (c:Claim) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT seed_batch_key IF NOT EXISTS FOR (s:SeedBatch) REQUIRE s.key IS UNIQUE",
    "CREATE CONSTRAINT external_identity_key IF NOT EXISTS FOR (x:ExternalIdentity) REQUIRE x.key IS UNIQUE",
    "CREATE CONSTRAINT access_event_id IF NOT EXISTS FOR (e:AccessEvent) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT audit_chain_id IF NOT EXISTS FOR (c:AuditChain) REQUIRE c.id IS UNIQUE",
    "CREATE INDEX access_event_actor IF NOT EXISTS FOR (e:AccessEvent) ON (e.actor)",
    "CREATE INDEX access_event_chain IF NOT EXISTS FOR (e:AccessEvent) ON (e.chain)",
    "CREATE INDEX person_family_name_key IF NOT EXISTS FOR (p:Person) ON (p.familyNameKey)",
    "CREATE INDEX person_date_of_birth IF NOT EXISTS FOR (p:Person) ON (p.dateOfBirth)",
    "CREATE INDEX address_postcode IF NOT EXISTS FOR (a:Address) ON (a.postcode)",
    "CREATE CONSTRAINT maintenance_case_id IF NOT EXISTS FOR (c:MaintenanceCase) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT consent_id IF NOT EXISTS FOR (c:Consent) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT schedule_id IF NOT EXISTS FOR (s:Schedule) REQUIRE s.id IS UNIQUE",
    "CREATE CONSTRAINT payment_id IF NOT EXISTS FOR (p:Payment) REQUIRE p.id IS UNIQUE",
    "CREATE CONSTRAINT payment_receipt_key IF NOT EXISTS FOR (p:Payment) REQUIRE p.receiptKey IS UNIQUE",
    "CREATE CONSTRAINT webhook_receipt_id IF NOT EXISTS FOR (r:WebhookReceipt) REQUIRE r.id IS UNIQUE",
    # identity resolution (graph.linkage): the full-name blocking rule, and the review queue
    "CREATE INDEX person_family_given_key IF NOT EXISTS FOR (p:Person) ON (p.familyNameKey, p.givenNameKey)",
    "CREATE INDEX external_identity_review IF NOT EXISTS FOR (x:ExternalIdentity) ON (x.reviewStatus)",
    # issue 12: a steward's decisions on an identity, read by the identity's key
    "CREATE INDEX identity_decision_key IF NOT EXISTS FOR (d:IdentityDecision) ON (d.key)",
    # issue 12: the full-name blocking rule on one property (see graph.models.full_name_key)
    "CREATE INDEX person_full_name_key IF NOT EXISTS FOR (p:Person) ON (p.fullNameKey)",
)


async def migrate(graph: Graph) -> None:
    """Apply every migration; each is idempotent, so running this on every start is safe."""
    for statement in MIGRATIONS:

        async def work(tx: Tx, statement: str = statement) -> None:
            await tx.fetch(statement)

        await graph.write(work)
    await backfill_full_name_keys(graph, once=True)  # issue 12: people written before the key existed


async def schema_names(graph: Graph) -> set[str]:
    """Names of the constraints and indexes present (for tests and `hub doctor`-style checks)."""

    async def work(tx: Tx) -> set[str]:
        rows = await tx.fetch("SHOW CONSTRAINTS YIELD name RETURN name")
        rows += await tx.fetch("SHOW INDEXES YIELD name RETURN name")
        return {r["name"] for r in rows}

    return await graph.read(work)
