"""Identity links: an external identity (an IdP subject, a connector's record id) linked to a person.

`(:Person)-[:LINKED_TO {confidence, method, linkedAt, linkedBy}]->(:ExternalIdentity {source, externalId})`.
A citizen's sign-in subject is pairwise (different per relying party), so it is only ever looked up
through this link, never used as a key of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from graph.driver import Graph, Tx
from graph.errors import IdentityTaken, NotFound

LinkedIdentity = tuple[str, float, str]
"""(external id, confidence, method) of one link."""


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


async def identities_for_people(graph: Graph, person_ids: Sequence[str], source: str) -> list[list[LinkedIdentity]]:
    """Every `source` identity linked to each person (one round trip), most confident first, in key order."""

    async def work(tx: Tx) -> list[list[LinkedIdentity]]:
        rows = await tx.fetch(
            "UNWIND $ids AS id MATCH (p:Person {id: id})-[l:LINKED_TO]->(x:ExternalIdentity) "
            "WHERE x.source = $source "
            "RETURN id, x.externalId AS external, l.confidence AS confidence, l.method AS method",
            {"ids": list(dict.fromkeys(person_ids)), "source": source},
        )
        found: dict[str, list[LinkedIdentity]] = {}
        for r in rows:
            confidence = float(r["confidence"]) if r["confidence"] is not None else 1.0
            found.setdefault(r["id"], []).append((str(r["external"]), confidence, str(r["method"] or "")))
        for links in found.values():
            links.sort(key=lambda link: (-link[1], link[0]))
        return [list(found.get(pid, [])) for pid in person_ids]

    return await graph.read(work)


async def link_exclusive(
    graph: Graph, person_id: str, source: str, external_id: str, *, method: str, linked_by: str, confidence: float = 1.0
) -> bool:
    """Link an external identity to a person unless it is already another person's; True if newly linked.

    A steward's deterministic link: the check and the write are one transaction, so two stewards racing
    to link one identity to two people cannot both succeed. Raises `NotFound` or `IdentityTaken`.
    """

    async def work(tx: Tx) -> bool:
        person = await tx.fetch_one("MATCH (p:Person {id: $person}) RETURN p.id AS id", {"person": person_id})
        if person is None:
            raise NotFound("Person", person_id)
        key = identity_key(source, external_id)
        owners = await tx.fetch(
            "MATCH (:ExternalIdentity {key: $key})<-[:LINKED_TO]-(p:Person) RETURN p.id AS id", {"key": key}
        )
        others = [r["id"] for r in owners if r["id"] != person_id]
        if others:
            raise IdentityTaken(source, others[0])
        if owners:
            return False
        await tx.fetch(
            "MATCH (p:Person {id: $person}) "
            "MERGE (x:ExternalIdentity {key: $key}) "
            "ON CREATE SET x.source = $source, x.externalId = $external "
            "MERGE (p)-[l:LINKED_TO]->(x) "
            "ON CREATE SET l.confidence = $confidence, l.method = $method, l.linkedAt = $now, l.linkedBy = $by",
            {
                "person": person_id,
                "key": key,
                "source": source,
                "external": external_id,
                "confidence": confidence,
                "method": method,
                "by": linked_by,
                "now": datetime.now(UTC).isoformat(),
            },
        )
        return True

    return await graph.write(work)
