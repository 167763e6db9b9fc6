"""Identity links: an external identity (an IdP subject, a connector's record id) linked to a person.

`(:Person)-[:LINKED_TO {confidence, method, linkedAt, linkedBy}]->(:ExternalIdentity {source, externalId})`.
A citizen's sign-in subject is pairwise (different per relying party), so it is only ever looked up
through this link, never used as a key of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from graph.driver import Graph, Tx
from graph.errors import NotFound


def identity_key(source: str, external_id: str) -> str:
    """One unique, indexed key for (source, external id)."""
    return f"{source}|{external_id}"


async def people_for_identities(graph: Graph, source: str, external_ids: Sequence[str]) -> list[str | None]:
    async def work(tx: Tx) -> list[str | None]:
        rows = await tx.fetch(
            "UNWIND $keys AS k MATCH (:ExternalIdentity {key: k})<-[:LINKED_TO]-(p:Person) RETURN k, p.id AS person",
            {"keys": [identity_key(source, x) for x in external_ids]},
        )
        found = {r["k"]: r["person"] for r in rows}
        return [found.get(identity_key(source, x)) for x in external_ids]

    return await graph.read(work)


async def link_identity(
    graph: Graph, person_id: str, source: str, external_id: str, *, method: str, linked_by: str, confidence: float = 1.0
) -> None:
    """Link (idempotently) an external identity to a person."""

    async def work(tx: Tx) -> None:
        row = await tx.fetch_one(
            "MATCH (p:Person {id: $person}) "
            "MERGE (x:ExternalIdentity {key: $key}) "
            "ON CREATE SET x.source = $source, x.externalId = $external "
            "MERGE (p)-[l:LINKED_TO]->(x) "
            "ON CREATE SET l.confidence = $confidence, l.method = $method, l.linkedAt = $now, l.linkedBy = $by "
            "RETURN p.id AS id",
            {
                "person": person_id,
                "key": identity_key(source, external_id),
                "source": source,
                "external": external_id,
                "confidence": confidence,
                "method": method,
                "by": linked_by,
                "now": datetime.now(UTC).isoformat(),
            },
        )
        if row is None:
            raise NotFound("Person", person_id)

    await graph.write(work)
