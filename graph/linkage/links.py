"""Persisting decisions: automatic links and review candidates, each with its explanation.

An automatic link is the same relationship every identity link is (`graph.identity`), with what
made it:

    (:Person)-[:LINKED_TO {confidence, method, linkedAt, linkedBy, modelVersion, matchWeight, explanation}]
        ->(:ExternalIdentity {key, source, externalId, matchRecord})

A candidate for review is a relationship of its own, so a person id never changes and a rejected
pair stays on record (and is never proposed again, see `blocking`):

    (:ExternalIdentity {reviewStatus: 'PENDING'})-[:MATCH_CANDIDATE {status, probability, matchWeight,
        modelVersion, explanation, proposedAt, proposedBy}]->(:Person)

`explanation` is JSON text (graph properties cannot nest maps): the probability, the match weight,
the thresholds in force, the reason, and the waterfall (the prior and every comparison's level and
weight). `matchRecord` keeps the normalised fields the external record was matched on, so a steward
sees both sides. The ExternalIdentity `reviewStatus` (indexed) is what the review queue is read by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neo4j.exceptions import ConstraintError

from graph.driver import Graph, Tx
from graph.identity import identity_key
from graph.linkage.decision import Decision, Outcome, ScoredCandidate, Thresholds
from graph.linkage.features import MatchRecord

PENDING = "PENDING"
REJECTED = "REJECTED"
ACCEPTED = "ACCEPTED"


def explanation(candidate: ScoredCandidate, decision: Decision, thresholds: Thresholds) -> str:
    score = candidate.score
    return json.dumps(
        {
            "probability": score.match_probability,
            "matchWeight": score.match_weight,
            "modelVersion": decision.model_version,
            "outcome": decision.outcome.value,
            "reason": decision.reason,
            "thresholds": thresholds.as_data(),
            "waterfall": score.waterfall(),
        },
        separators=(",", ":"),
    )


def _record_json(record: MatchRecord | None) -> str | None:
    if record is None:
        return None
    return json.dumps(
        {
            "givenName": record.given_name,
            "familyName": record.family_name,
            "dateOfBirth": record.date_of_birth,
            "postcode": record.postcode,
            "addressLine": record.address_line,
        },
        separators=(",", ":"),
    )


_IDENTITY = (
    "MERGE (x:ExternalIdentity {key: $key}) "
    "ON CREATE SET x.source = $source, x.externalId = $external "
    "SET x.matchRecord = coalesce($record, x.matchRecord) "
)

_LINK = (
    "MATCH (p:Person {id: $person}) " + _IDENTITY + "MERGE (p)-[l:LINKED_TO]->(x) "
    "ON CREATE SET l.confidence = $confidence, l.method = $method, l.linkedAt = $now, l.linkedBy = $by, "
    "l.modelVersion = $model, l.matchWeight = $weight, l.explanation = $explanation "
    "SET x.reviewStatus = null "
    "RETURN x.key AS key"
)
# Candidates still pending for an identity that is now linked no longer need a steward.
_SUPERSEDE = (
    "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE {status: 'PENDING'}]->(:Person) "
    "SET c.status = 'SUPERSEDED', c.updatedAt = $now"
)

_CANDIDATES = (
    _IDENTITY + "SET x.reviewStatus = 'PENDING' "
    "WITH x UNWIND $candidates AS cand "
    "MATCH (p:Person {id: cand.person}) "
    "MERGE (x)-[c:MATCH_CANDIDATE]->(p) "
    "ON CREATE SET c.status = 'PENDING', c.proposedAt = $now, c.proposedBy = $by "
    "WITH c, cand WHERE c.status = 'PENDING' "
    "SET c.probability = cand.probability, c.matchWeight = cand.weight, c.modelVersion = $model, "
    "c.explanation = cand.explanation, c.updatedAt = $now "
    "RETURN count(c) AS n"
)


async def persist_decision(
    tx: Tx,
    decision: Decision,
    *,
    source: str,
    external_id: str,
    record: MatchRecord | None,
    thresholds: Thresholds,
    actor: str,
) -> None:
    """Write what `decision` says, inside the caller's write transaction (NO_LINK writes nothing)."""
    if decision.existing or decision.outcome is Outcome.NO_LINK:
        return
    now = datetime.now(UTC).isoformat()
    common = {
        "key": identity_key(source, external_id),
        "source": source,
        "external": external_id,
        "record": _record_json(record),
        "model": decision.model_version,
        "now": now,
        "by": actor,
    }
    if decision.outcome is Outcome.AUTO_LINK:
        [best] = decision.candidates
        await tx.fetch(
            _LINK,
            {
                **common,
                "person": decision.person_id,
                "confidence": best.score.match_probability,
                "method": decision.method,
                "weight": best.score.match_weight,
                "explanation": explanation(best, decision, thresholds),
            },
        )
        await tx.fetch(_SUPERSEDE, {"key": common["key"], "now": now})
        return
    await tx.fetch(
        _CANDIDATES,
        {
            **common,
            "candidates": [
                {
                    "person": c.person_id,
                    "probability": c.score.match_probability,
                    "weight": c.score.match_weight,
                    "explanation": explanation(c, decision, thresholds),
                }
                for c in decision.candidates
            ],
        },
    )


async def write_decision(graph: Graph, decision: Decision, **kw: Any) -> None:
    """`persist_decision` in its own transaction; a concurrent first MERGE of the same identity is retried
    (the embedded server raises ConstraintError where Neo4j would match, shared PLATFORM.md)."""

    async def work(tx: Tx) -> None:
        await persist_decision(tx, decision, **kw)

    try:
        await graph.write(work)
    except ConstraintError:
        await graph.write(work)


# --- reading back ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityLink:
    source: str
    external_id: str
    person_id: str
    method: str
    confidence: float
    linked_at: str
    linked_by: str
    model_version: str | None
    match_weight: float | None
    explanation: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    source: str
    external_id: str
    person_id: str
    status: str
    probability: float
    match_weight: float
    model_version: str | None
    explanation: dict[str, Any]
    external_record: dict[str, Any] | None


def _json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else None


async def links_for_person(graph: Graph, person_id: str) -> list[IdentityLink]:
    async def work(tx: Tx) -> list[IdentityLink]:
        rows = await tx.fetch(
            "MATCH (p:Person {id: $id})-[l:LINKED_TO]->(x:ExternalIdentity) "
            "RETURN x.source AS source, x.externalId AS external, l {.*} AS l ORDER BY source, external",
            {"id": person_id},
        )
        return [
            IdentityLink(
                source=r["source"],
                external_id=r["external"],
                person_id=person_id,
                method=r["l"]["method"],
                confidence=r["l"]["confidence"],
                linked_at=r["l"]["linkedAt"],
                linked_by=r["l"]["linkedBy"],
                model_version=r["l"].get("modelVersion"),
                match_weight=r["l"].get("matchWeight"),
                explanation=_json(r["l"].get("explanation")),
            )
            for r in rows
        ]

    return await graph.read(work)


def _candidate(row: dict[str, Any]) -> ReviewCandidate:
    c = row["c"]
    return ReviewCandidate(
        source=row["source"],
        external_id=row["external"],
        person_id=row["person"],
        status=c["status"],
        probability=c["probability"],
        match_weight=c["matchWeight"],
        model_version=c.get("modelVersion"),
        explanation=_json(c.get("explanation")) or {},
        external_record=_json(row.get("record")),
    )


async def candidates_for_identity(graph: Graph, source: str, external_id: str) -> list[ReviewCandidate]:
    """Every candidate ever proposed for one external identity (any status), best first."""

    async def work(tx: Tx) -> list[ReviewCandidate]:
        rows = await tx.fetch(
            "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE]->(p:Person) "
            "RETURN x.source AS source, x.externalId AS external, x.matchRecord AS record, p.id AS person, "
            "c {.*} AS c ORDER BY c.matchWeight DESC",
            {"key": identity_key(source, external_id)},
        )
        return [_candidate(r) for r in rows]

    return await graph.read(work)


async def review_queue(graph: Graph, limit: int = 50) -> list[ReviewCandidate]:
    """Pending candidates, read through the indexed `reviewStatus` of their external identities."""

    async def work(tx: Tx) -> list[ReviewCandidate]:
        rows = await tx.fetch(
            "MATCH (x:ExternalIdentity {reviewStatus: 'PENDING'}) WITH x LIMIT $limit "
            "MATCH (x)-[c:MATCH_CANDIDATE {status: 'PENDING'}]->(p:Person) "
            "RETURN x.source AS source, x.externalId AS external, x.matchRecord AS record, p.id AS person, "
            "c {.*} AS c ORDER BY source, external, c.matchWeight DESC",
            {"limit": limit},
        )
        return [_candidate(r) for r in rows]

    return await graph.read(work)


async def reject_candidate(graph: Graph, source: str, external_id: str, person_id: str, *, by: str, why: str) -> bool:
    """Mark one pending candidate rejected (the first steward action; the rest of the workflow follows).

    Returns False when there was no pending candidate for that pair. The identity leaves the queue
    once none of its candidates is pending.
    """

    async def work(tx: Tx) -> bool:
        row = await tx.fetch_one(
            "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE {status: 'PENDING'}]->(:Person {id: $person}) "
            "SET c.status = 'REJECTED', c.decidedBy = $by, c.decidedAt = $now, c.reason = $why "
            "WITH x, count(c) AS n "
            "OPTIONAL MATCH (x)-[o:MATCH_CANDIDATE {status: 'PENDING'}]->(:Person) "
            "WITH x, n, count(o) AS pending "
            "SET x.reviewStatus = CASE WHEN pending = 0 THEN null ELSE 'PENDING' END "
            "RETURN n",
            {
                "key": identity_key(source, external_id),
                "person": person_id,
                "by": by,
                "why": why,
                "now": datetime.now(UTC).isoformat(),
            },
        )
        return row is not None and row["n"] > 0

    return await graph.write(work)
