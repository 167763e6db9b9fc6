"""A data steward's decisions on identity links: accept, reject, unlink, relink — each on record.

Every decision is one write transaction that changes the links and writes what was decided, by whom
and why, as an `IdentityDecision` node (indexed by the identity's key, so an identity's history is
one indexed read):

    (:IdentityDecision {id, key, action, source, externalId, personId, previousPersonId,
                        decidedBy, reason, decidedAt, link})

`link` is the link the decision made or removed (JSON text), so an unlinked link's probability,
model version and waterfall stay on record after the relationship is gone.

The rules:
- a rejected pair is never proposed again: rejecting marks the `MATCH_CANDIDATE` REJECTED, and so do
  unlink and relink for the pair they undo (a wrong link is a rejected pair), and candidate search
  leaves rejected people out (`blocking`);
- an identity is linked to at most one person: accepting a candidate of an identity someone else
  already holds is refused (relink moves it, on purpose);
- the hub person id never changes: links are relationships between unchanged nodes.

Each transaction first writes the external identity (`lockedAt`): two stewards deciding on the same
identity at once conflict on that write, and the retried one sees the other's outcome (write-first,
shared PLATFORM.md).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from graph.driver import Graph, Tx
from graph.errors import InvalidValue, NotFound
from graph.identity import identity_key
from graph.linkage.links import ACCEPTED, PENDING, REJECTED, IdentityLink, link_from_row

MAX_REASON = 2000


class Action(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    UNLINK = "UNLINK"
    RELINK = "RELINK"


# How a link made by a steward says what made it (`LINKED_TO.method`).
ACCEPTED_METHOD = "probabilistic:reviewed"  # the model proposed it, a steward confirmed it
RELINKED_METHOD = "steward:relinked"  # a steward chose the person


@dataclass(frozen=True, slots=True)
class StewardDecision:
    id: str
    action: Action
    source: str
    external_id: str
    person_id: str | None  # the person the decision is about (linked, rejected, or unlinked from)
    previous_person_id: str | None  # relink: the person the identity was moved away from
    decided_by: str
    reason: str
    decided_at: str
    link: IdentityLink | None  # the link made (accept, relink) or removed (unlink)


def check_reason(reason: str) -> str:
    """A decision must say why: 1 to MAX_REASON characters, not only spaces."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidValue("reason", "must say why (it must not be empty)")
    if len(reason) > MAX_REASON:
        raise InvalidValue("reason", f"must be at most {MAX_REASON} characters")
    return reason.strip()


def _check_actor(by: str) -> None:
    if not by:
        raise InvalidValue("decidedBy", "a decision needs the steward who made it")


# The first statement of every decision: write-first on the identity (see the module docstring).
_LOCK = "MATCH (x:ExternalIdentity {key: $key}) SET x.lockedAt = $now RETURN x.key AS key"

_OWNER = "MATCH (x:ExternalIdentity {key: $key})<-[l:LINKED_TO]-(p:Person) RETURN p.id AS person, l {.*} AS l"

# After any change to its candidates, the identity is in the queue only while one is pending.
_REQUEUE = (
    "MATCH (x:ExternalIdentity {key: $key}) "
    "OPTIONAL MATCH (x)-[o:MATCH_CANDIDATE {status: 'PENDING'}]->(:Person) "
    "WITH x, count(o) AS pending "
    "SET x.reviewStatus = CASE WHEN pending = 0 THEN null ELSE 'PENDING' END"
)

# Undo a link and remember the pair as rejected, so nothing proposes it again.
_UNLINK = (
    "MATCH (x:ExternalIdentity {key: $key})<-[l:LINKED_TO]-(p:Person {id: $person}) DELETE l "
    "WITH x, p MERGE (x)-[c:MATCH_CANDIDATE]->(p) "
    "ON CREATE SET c.proposedAt = $now, c.proposedBy = $by, c.probability = $probability, "
    "c.matchWeight = $weight, c.modelVersion = $model, c.explanation = $explanation "
    "SET c.status = 'REJECTED', c.decidedBy = $by, c.decidedAt = $now, c.reason = $why, c.updatedAt = $now"
)

_LINK = (
    "MATCH (x:ExternalIdentity {key: $key}), (p:Person {id: $person}) "
    "CREATE (p)-[l:LINKED_TO {confidence: $confidence, method: $method, linkedAt: $now, linkedBy: $by, "
    "modelVersion: $model, matchWeight: $weight, explanation: $explanation}]->(x) "
    "RETURN l {.*} AS l"
)

_DECIDE_PAIR = (
    "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE]->(:Person {id: $person}) "
    "SET c.status = $status, c.decidedBy = $by, c.decidedAt = $now, c.reason = $why, c.updatedAt = $now"
)

# The other candidates of an identity that is now linked need no steward any more.
_SUPERSEDE_OTHERS = (
    "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE {status: 'PENDING'}]->(p:Person) "
    "WHERE p.id <> $person SET c.status = 'SUPERSEDED', c.updatedAt = $now"
)

_RECORD = (
    "CREATE (d:IdentityDecision {id: $id, key: $key, action: $action, source: $source, externalId: $external, "
    "personId: $person, previousPersonId: $previous, decidedBy: $by, reason: $why, decidedAt: $now, link: $link})"
)


class _Decision:
    """The parameters every statement of one decision shares."""

    def __init__(self, source: str, external_id: str, by: str, why: str) -> None:
        _check_actor(by)
        self.source = source
        self.external_id = external_id
        self.key = identity_key(source, external_id)
        self.by = by
        self.why = check_reason(why)
        self.now = datetime.now(UTC).isoformat()

    @property
    def params(self) -> dict[str, Any]:
        return {"key": self.key, "by": self.by, "why": self.why, "now": self.now}

    async def lock(self, tx: Tx) -> None:
        if await tx.fetch_one(_LOCK, {"key": self.key, "now": self.now}) is None:
            raise NotFound("ExternalIdentity", f"{self.source}/{self.external_id}")

    async def owner(self, tx: Tx) -> tuple[str, dict[str, Any]] | None:
        rows = await tx.fetch(_OWNER, {"key": self.key})
        return (rows[0]["person"], rows[0]["l"]) if rows else None

    async def unlink(self, tx: Tx, person: str, link: dict[str, Any]) -> None:
        await tx.fetch(
            _UNLINK,
            {
                **self.params,
                "person": person,
                "probability": _probability(link),
                "weight": link.get("matchWeight"),
                "model": link.get("modelVersion"),
                "explanation": link.get("explanation"),
            },
        )

    async def link(
        self, tx: Tx, person: str, method: str, candidate: dict[str, Any] | None, confidence: float
    ) -> IdentityLink:
        c = candidate or {}
        row = await tx.fetch_one(
            _LINK,
            {
                **self.params,
                "person": person,
                "method": method,
                "confidence": confidence,
                "model": c.get("modelVersion"),
                "weight": c.get("matchWeight"),
                "explanation": c.get("explanation"),
            },
        )
        assert row is not None  # both ends were matched inside this transaction
        await tx.fetch(_SUPERSEDE_OTHERS, {"key": self.key, "person": person, "now": self.now})
        return link_from_row(person, self.source, self.external_id, row["l"])

    async def record(
        self,
        tx: Tx,
        action: Action,
        person: str | None,
        link: IdentityLink | None,
        previous: str | None = None,
    ) -> StewardDecision:
        await tx.fetch(_REQUEUE, {"key": self.key})
        decision = StewardDecision(
            id=str(uuid.uuid4()),
            action=action,
            source=self.source,
            external_id=self.external_id,
            person_id=person,
            previous_person_id=previous,
            decided_by=self.by,
            reason=self.why,
            decided_at=self.now,
            link=link,
        )
        await tx.fetch(
            _RECORD,
            {
                **self.params,
                "id": decision.id,
                "action": action.value,
                "source": self.source,
                "external": self.external_id,
                "person": person,
                "previous": previous,
                "link": _link_json(link),
            },
        )
        return decision


def _probability(link: dict[str, Any]) -> float | None:
    explanation = link.get("explanation")
    if isinstance(explanation, str):
        value = json.loads(explanation).get("probability")
        return float(value) if isinstance(value, int | float) else None
    return None


def _link_json(link: IdentityLink | None) -> str | None:
    if link is None:
        return None
    return json.dumps(
        {
            "personId": link.person_id,
            "method": link.method,
            "confidence": link.confidence,
            "linkedAt": link.linked_at,
            "linkedBy": link.linked_by,
            "modelVersion": link.model_version,
            "matchWeight": link.match_weight,
            "explanation": link.explanation,
        },
        separators=(",", ":"),
    )


async def _candidate(tx: Tx, key: str, person: str) -> dict[str, Any] | None:
    row = await tx.fetch_one(
        "MATCH (:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE]->(:Person {id: $person}) RETURN c {.*} AS c",
        {"key": key, "person": person},
    )
    return row["c"] if row is not None else None


async def _pending(tx: Tx, d: _Decision, person_id: str) -> dict[str, Any]:
    candidate = await _candidate(tx, d.key, person_id)
    if candidate is None:
        raise NotFound("IdentityCandidate", f"{d.source}/{d.external_id}/{person_id}")
    if candidate["status"] != PENDING:
        raise InvalidValue("id", f"this candidate was already decided ({str(candidate['status']).lower()})")
    return candidate


async def accept_candidate(
    graph: Graph, source: str, external_id: str, person_id: str, *, by: str, why: str
) -> StewardDecision:
    """Link the identity to the proposed person, keeping the model's probability, weights and version."""
    d = _Decision(source, external_id, by, why)

    async def work(tx: Tx) -> StewardDecision:
        await d.lock(tx)
        candidate = await _pending(tx, d, person_id)
        owner = await d.owner(tx)
        if owner is not None:
            raise InvalidValue("id", "this identity is already linked to a person: relink it instead")
        await tx.fetch(_DECIDE_PAIR, {**d.params, "person": person_id, "status": ACCEPTED})
        link = await d.link(tx, person_id, ACCEPTED_METHOD, candidate, float(candidate.get("probability") or 0.0))
        return await d.record(tx, Action.ACCEPT, person_id, link)

    return await graph.write(work)


async def reject_candidate(
    graph: Graph, source: str, external_id: str, person_id: str, *, by: str, why: str
) -> StewardDecision:
    """Reject one proposed pair for good: it leaves the queue and candidate search never offers it again."""
    d = _Decision(source, external_id, by, why)

    async def work(tx: Tx) -> StewardDecision:
        await d.lock(tx)
        await _pending(tx, d, person_id)
        await tx.fetch(_DECIDE_PAIR, {**d.params, "person": person_id, "status": REJECTED})
        return await d.record(tx, Action.REJECT, person_id, None)

    return await graph.write(work)


async def unlink_identity(graph: Graph, source: str, external_id: str, *, by: str, why: str) -> StewardDecision:
    """Remove the identity's link; the pair is remembered as rejected so it is not linked again."""
    d = _Decision(source, external_id, by, why)

    async def work(tx: Tx) -> StewardDecision:
        await d.lock(tx)
        owner = await d.owner(tx)
        if owner is None:
            raise InvalidValue("externalId", "this identity is not linked to anyone")
        person, props = owner
        await d.unlink(tx, person, props)
        return await d.record(tx, Action.UNLINK, person, link_from_row(person, source, external_id, props))

    return await graph.write(work)


async def relink_identity(
    graph: Graph, source: str, external_id: str, person_id: str, *, by: str, why: str
) -> StewardDecision:
    """Link the identity to `person_id` instead of whoever holds it (if anyone); the old pair is rejected.

    A candidate the model had proposed for the new pair is marked accepted and its scores kept on the link.
    """
    d = _Decision(source, external_id, by, why)

    async def work(tx: Tx) -> StewardDecision:
        await d.lock(tx)
        if await tx.fetch_one("MATCH (p:Person {id: $id}) RETURN p.id AS id", {"id": person_id}) is None:
            raise NotFound("Person", person_id)
        owner = await d.owner(tx)
        previous = None
        if owner is not None:
            previous, props = owner
            if previous == person_id:
                raise InvalidValue("personId", "the identity is already linked to this person")
            await d.unlink(tx, previous, props)
        candidate = await _candidate(tx, d.key, person_id)
        if candidate is not None:
            await tx.fetch(_DECIDE_PAIR, {**d.params, "person": person_id, "status": ACCEPTED})
        link = await d.link(tx, person_id, RELINKED_METHOD, candidate, 1.0)
        return await d.record(tx, Action.RELINK, person_id, link, previous)

    return await graph.write(work)


async def decisions_for_identity(graph: Graph, source: str, external_id: str) -> list[StewardDecision]:
    """The identity's decisions, newest first."""

    async def work(tx: Tx) -> list[StewardDecision]:
        rows = await tx.fetch(
            "MATCH (d:IdentityDecision {key: $key}) RETURN d {.*} AS d ORDER BY d.decidedAt DESC",
            {"key": identity_key(source, external_id)},
        )
        return [_decision_from(r["d"]) for r in rows]

    return await graph.read(work)


def _decision_from(d: dict[str, Any]) -> StewardDecision:
    link = json.loads(d["link"]) if isinstance(d.get("link"), str) else None
    return StewardDecision(
        id=d["id"],
        action=Action(d["action"]),
        source=d["source"],
        external_id=d["externalId"],
        person_id=d.get("personId"),
        previous_person_id=d.get("previousPersonId"),
        decided_by=d["decidedBy"],
        reason=d["reason"],
        decided_at=d["decidedAt"],
        link=IdentityLink(
            source=d["source"],
            external_id=d["externalId"],
            person_id=link["personId"],
            method=link["method"],
            confidence=link["confidence"],
            linked_at=link["linkedAt"],
            linked_by=link["linkedBy"],
            model_version=link.get("modelVersion"),
            match_weight=link.get("matchWeight"),
            explanation=link.get("explanation"),
        )
        if link is not None
        else None,
    )
