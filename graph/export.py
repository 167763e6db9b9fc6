"""Subject access: everything the hub holds about one person, as one JSON-ready document.

UK GDPR Article 15: the core record, household links, addresses, claims, identity links,
consents, connector data held with its provenance, and who accessed the record.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from graph.audit import access_log
from graph.driver import Graph, Tx
from graph.errors import NotFound
from graph.models import to_native

EXPORT_VERSION = 1


def _plain(value: Any) -> Any:
    """neo4j temporals and nested values -> JSON-friendly values."""
    value = to_native(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def subject_access(graph: Graph, person_id: str) -> dict[str, Any]:
    async def work(tx: Tx) -> dict[str, Any] | None:
        row = await tx.fetch_one(
            "MATCH (p:Person {id: $id}) RETURN p {.*} AS person, "
            "[(p)-[r:PARENT_OF|PARTNER_OF|CARES_FOR]-(o:Person) | "
            " {type: type(r), direction: CASE WHEN startNode(r) = p THEN 'out' ELSE 'in' END, "
            "  personId: o.id, givenName: o.givenName, familyName: o.familyName, hoursPerWeek: r.hoursPerWeek}] "
            "AS relationships, "
            "[(p)-[l:LIVES_AT]->(a:Address) | a {.*, from: l.from, to: l.to}] AS addresses, "
            "[(p)-[:HAS_CLAIM]->(c:Claim) | c {.*}] AS claims, "
            "[(p)-[k:LINKED_TO]->(x:ExternalIdentity) | "
            " {source: x.source, externalId: x.externalId, method: k.method, confidence: k.confidence, "
            "  linkedAt: k.linkedAt, linkedBy: k.linkedBy}] AS identities, "
            "[(p)-[:GAVE_CONSENT]->(c:Consent) | c {.*}] AS consents",
            {"id": person_id},
        )
        return row

    row = await graph.read(work)
    if row is None:
        raise NotFound("Person", person_id)
    person = {k: v for k, v in row["person"].items() if not k.endswith("Key")}  # search keys are derived data
    [log] = await access_log(graph, [person_id], limit=10_000)
    return _plain(
        {
            "exportVersion": EXPORT_VERSION,
            "person": person,
            "relationships": sorted(row["relationships"], key=lambda r: (r["type"], r["personId"])),
            "addresses": sorted(row["addresses"], key=lambda a: str(a.get("from") or "")),
            "claims": sorted(row["claims"], key=lambda c: c["id"]),
            "identityLinks": row["identities"],
            "consents": row["consents"],
            # Connector records live in the hub's cache, not the graph: the caller holding the
            # connector registry fills this in (schema.connectors.loaders.ConnectorRequest.held_about).
            "connectorData": [],
            "accessLog": [
                {
                    "at": e.at,
                    "actor": e.actor,
                    "actorRole": e.actor_role,
                    "actorDepartment": e.actor_department,
                    "purpose": e.purpose,
                    "requestId": e.request_id,
                    "fields": list(e.fields),
                }
                for e in log
            ],
        }
    )
