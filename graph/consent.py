"""Consent: a person's permission for one connector to be read for one purpose (UK GDPR Art. 6(1)(a), 7).

`(:Person)-[:GAVE_CONSENT]->(:Consent {id, connector, purpose, grantedAt, revokedAt?, expiresAt?})`.
A consent is never deleted: revoking stamps `revokedAt`, so the record of what was allowed when survives
(Art. 7(1): the controller must be able to show consent was given). At most one active consent exists
per (person, connector, purpose): granting again returns the active one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph import timeline
from graph.driver import Graph, Tx
from graph.errors import InvalidValue, NotFound
from graph.timeline import LifeEventType, NewLifeEvent

__all__ = ["Consent", "active_consents", "consents_of", "grant_consent", "revoke_consent"]

_FIELDS = (
    "c.id AS id, c.connector AS connector, c.purpose AS purpose, c.grantedAt AS grantedAt, "
    "c.revokedAt AS revokedAt, c.expiresAt AS expiresAt"
)


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    person_id: str
    connector: str
    purpose: str
    granted_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None

    def active(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _consent(person_id: str, r: dict[str, Any]) -> Consent:
    granted = _when(r["grantedAt"])
    assert granted is not None
    return Consent(
        id=r["id"],
        person_id=person_id,
        connector=r["connector"],
        purpose=r["purpose"],
        granted_at=granted,
        revoked_at=_when(r["revokedAt"]),
        expires_at=_when(r["expiresAt"]),
    )


async def consents_of(graph: Graph, person_ids: Sequence[str]) -> list[list[Consent]]:
    """Every consent (active or not) of each person, newest first, in key order: one round trip."""

    async def work(tx: Tx) -> list[list[Consent]]:
        rows = await tx.fetch(
            f"UNWIND $ids AS pid MATCH (:Person {{id: pid}})-[:GAVE_CONSENT]->(c:Consent) RETURN pid, {_FIELDS}",
            {"ids": list(dict.fromkeys(person_ids))},
        )
        found: dict[str, list[Consent]] = {}
        for r in rows:
            found.setdefault(r["pid"], []).append(_consent(r["pid"], r))
        for consents in found.values():
            consents.sort(key=lambda c: c.granted_at, reverse=True)
        return [list(found.get(pid, [])) for pid in person_ids]

    return await graph.read(work)


async def active_consents(graph: Graph, person_ids: Sequence[str], connector: str, purpose: str) -> list[bool]:
    """Whether each person has an active consent for ``connector`` and ``purpose``, in key order."""

    async def work(tx: Tx) -> list[bool]:
        rows = await tx.fetch(
            "UNWIND $ids AS pid MATCH (:Person {id: pid})-[:GAVE_CONSENT]->(c:Consent) "
            "WHERE c.connector = $connector AND c.purpose = $purpose AND c.revokedAt IS NULL "
            f"RETURN pid, {_FIELDS}",
            {"ids": list(dict.fromkeys(person_ids)), "connector": connector, "purpose": purpose},
        )
        now = datetime.now(UTC)
        active = {r["pid"] for r in rows if _consent(r["pid"], r).active(now)}
        return [pid in active for pid in person_ids]

    return await graph.read(work)


async def grant_consent(
    graph: Graph, person_id: str, connector: str, purpose: str, *, expires_at: datetime | None = None
) -> Consent:
    """Record a consent; the active one is returned unchanged if there already is one (idempotent)."""
    if not connector or not purpose:
        raise InvalidValue("connector" if not connector else "purpose", "must not be empty")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise InvalidValue("expiresAt", "must be in the future")

    async def work(tx: Tx) -> Consent:
        rows = await tx.fetch(
            "MATCH (p:Person {id: $person}) OPTIONAL MATCH (p)-[:GAVE_CONSENT]->(c:Consent) "
            "WHERE c.connector = $connector AND c.purpose = $purpose AND c.revokedAt IS NULL "
            f"RETURN p.id AS person, {_FIELDS}",
            {"person": person_id, "connector": connector, "purpose": purpose},
        )
        if not rows:
            raise NotFound("Person", person_id)
        now = datetime.now(UTC)
        for r in rows:
            if r["id"] is not None and _consent(person_id, r).active(now):
                return _consent(person_id, r)
        row = await tx.fetch_one(
            "MATCH (p:Person {id: $person}) "
            "CREATE (p)-[:GAVE_CONSENT]->(c:Consent {id: $id, connector: $connector, purpose: $purpose, "
            "grantedAt: $now, expiresAt: $expires}) "
            f"RETURN {_FIELDS}",
            {
                "person": person_id,
                "id": str(uuid.uuid4()),
                "connector": connector,
                "purpose": purpose,
                "now": now.isoformat(timespec="microseconds"),
                "expires": expires_at.astimezone(UTC).isoformat(timespec="microseconds") if expires_at else None,
            },
        )
        assert row is not None
        granted = _consent(person_id, row)
        await timeline.record(
            tx,
            [NewLifeEvent(person_id, LifeEventType.CONSENT_GRANTED, data={"connector": connector, "purpose": purpose})],
        )
        return granted

    return await graph.write(work)


async def revoke_consent(graph: Graph, person_id: str, connector: str) -> list[Consent]:
    """Revoke every active consent the person gave ``connector`` (any purpose); the ones revoked."""

    async def work(tx: Tx) -> list[Consent]:
        person = await tx.fetch_one("MATCH (p:Person {id: $person}) RETURN p.id AS id", {"person": person_id})
        if person is None:
            raise NotFound("Person", person_id)
        rows = await tx.fetch(
            "MATCH (:Person {id: $person})-[:GAVE_CONSENT]->(c:Consent) "
            "WHERE c.connector = $connector AND c.revokedAt IS NULL "
            f"SET c.revokedAt = $now RETURN {_FIELDS}",
            {"person": person_id, "connector": connector, "now": datetime.now(UTC).isoformat(timespec="microseconds")},
        )
        revoked = [_consent(person_id, r) for r in rows]
        await timeline.record(
            tx,
            [
                NewLifeEvent(
                    person_id, LifeEventType.CONSENT_REVOKED, data={"connector": c.connector, "purpose": c.purpose}
                )
                for c in revoked
            ],
        )
        return revoked

    return await graph.write(work)
