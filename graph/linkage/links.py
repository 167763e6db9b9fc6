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
the evidence (the match weight less the prior's, in bits: what the thresholds are applied to), the
thresholds in force, the reason, and the waterfall (the prior and every comparison's level and
weight). `matchRecord` keeps the normalised fields the external record was matched on, so a steward
sees both sides. The ExternalIdentity `reviewStatus` (indexed) is what the review queue is read by.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
            "evidence": score.evidence,
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

    @property
    def probability(self) -> float | None:
        """The model's probability, when a model made or proposed the link (None for deterministic ones)."""
        if self.explanation is not None and isinstance(self.explanation.get("probability"), int | float):
            return float(self.explanation["probability"])
        return None


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
    proposed_at: str | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    candidates: list[ReviewCandidate]
    has_next: bool


def _json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else None


def link_from_row(person_id: str, source: str, external_id: str, props: dict[str, Any]) -> IdentityLink:
    return IdentityLink(
        source=source,
        external_id=external_id,
        person_id=person_id,
        method=props["method"] or "",
        confidence=float(props["confidence"]) if props.get("confidence") is not None else 1.0,
        linked_at=props["linkedAt"],
        linked_by=props.get("linkedBy") or "",
        model_version=props.get("modelVersion"),
        match_weight=props.get("matchWeight"),
        explanation=_json(props.get("explanation")),
    )


async def links_for_people(graph: Graph, person_ids: Sequence[str]) -> list[list[IdentityLink]]:
    """Every identity linked to each person (one round trip), by source and external id, in key order."""

    async def work(tx: Tx) -> list[list[IdentityLink]]:
        rows = await tx.fetch(
            "UNWIND $ids AS id MATCH (p:Person {id: id})-[l:LINKED_TO]->(x:ExternalIdentity) "
            "RETURN id, x.source AS source, x.externalId AS external, l {.*} AS l",
            {"ids": list(dict.fromkeys(person_ids))},
        )
        found: dict[str, list[IdentityLink]] = {}
        for r in rows:
            found.setdefault(r["id"], []).append(link_from_row(r["id"], r["source"], r["external"], r["l"]))
        for links in found.values():
            links.sort(key=lambda link: (link.source, link.external_id))
        return [list(found.get(pid, [])) for pid in person_ids]

    return await graph.read(work)


async def links_for_person(graph: Graph, person_id: str) -> list[IdentityLink]:
    [links] = await links_for_people(graph, [person_id])
    return links


def _candidate(row: dict[str, Any]) -> ReviewCandidate:
    c = row["c"]
    return ReviewCandidate(
        source=row["source"],
        external_id=row["external"],
        person_id=row["person"],
        status=c["status"],
        probability=c.get("probability") if c.get("probability") is not None else 0.0,
        match_weight=c.get("matchWeight") if c.get("matchWeight") is not None else 0.0,
        model_version=c.get("modelVersion"),
        explanation=_json(c.get("explanation")) or {},
        external_record=_json(row.get("record")),
        proposed_at=c.get("proposedAt"),
    )


_CANDIDATE_RETURN = (
    "RETURN x.source AS source, x.externalId AS external, x.matchRecord AS record, p.id AS person, c {.*} AS c"
)


async def candidates_for_identity(graph: Graph, source: str, external_id: str) -> list[ReviewCandidate]:
    """Every candidate ever proposed for one external identity (any status), best first."""

    async def work(tx: Tx) -> list[ReviewCandidate]:
        rows = await tx.fetch(
            "MATCH (x:ExternalIdentity {key: $key})-[c:MATCH_CANDIDATE]->(p:Person) "
            + _CANDIDATE_RETURN
            + " ORDER BY c.matchWeight DESC",
            {"key": identity_key(source, external_id)},
        )
        return [_candidate(r) for r in rows]

    return await graph.read(work)


async def review_queue_page(
    graph: Graph, first: int, after: tuple[str, str] | None = None, source: str | None = None
) -> QueuePage:
    """Pending candidates ordered by (identity key, person id), read through the indexed `reviewStatus`.

    Keyset paging: `after` is the (identity key, person id) of the last candidate seen. Only pending
    identities are sorted (a small share of a source: the bench's review share), never everyone.
    """
    after_key, after_person = after if after is not None else ("", "")

    async def work(tx: Tx) -> QueuePage:
        rows = await tx.fetch(
            "MATCH (x:ExternalIdentity {reviewStatus: 'PENDING'}) "
            "WHERE ($source IS NULL OR x.source = $source) AND x.key >= $afterKey "
            "MATCH (x)-[c:MATCH_CANDIDATE {status: 'PENDING'}]->(p:Person) "
            "WHERE x.key > $afterKey OR p.id > $afterPerson "
            + _CANDIDATE_RETURN
            + ", x.key AS key ORDER BY key, person LIMIT $limit",
            {"source": source, "afterKey": after_key, "afterPerson": after_person, "limit": first + 1},
        )
        return QueuePage([_candidate(r) for r in rows[:first]], len(rows) > first)

    return await graph.read(work)


async def review_queue(graph: Graph, limit: int = 50) -> list[ReviewCandidate]:
    """The first `limit` pending candidates (see `review_queue_page`)."""
    return (await review_queue_page(graph, limit)).candidates
