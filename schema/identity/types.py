"""GraphQL types of identity resolution: links, review candidates, decisions, and the waterfall as data.

A candidate's id is opaque to clients: the (source, external id, person id) it stands for, encoded, so
deciding on it is an indexed read of the identity and no separate id has to be stored on a relationship.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import strawberry
from strawberry.scalars import JSON

from graph.errors import InvalidValue
from graph.identity import identity_key
from graph.linkage import links as repo
from graph.linkage.steward import StewardDecision
from schema.context import Info
from schema.people.queries import PageInfo
from schema.people.types import Person


def _encode(parts: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def _decode(value: str, count: int, field: str, what: str) -> tuple[str, ...]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidValue(field, f"not {what} returned by this API") from None
    if not (isinstance(parts, list) and len(parts) == count and all(isinstance(p, str) and p for p in parts)):
        raise InvalidValue(field, f"not {what} returned by this API")
    return tuple(parts)


def candidate_id(source: str, external_id: str, person_id: str) -> str:
    return _encode((source, external_id, person_id))


def parse_candidate_id(value: str) -> tuple[str, str, str]:
    source, external, person = _decode(value, 3, "id", "a candidate id")
    return source, external, person


def queue_cursor(candidate: repo.ReviewCandidate) -> str:
    return _encode((identity_key(candidate.source, candidate.external_id), candidate.person_id))


def parse_queue_cursor(value: str) -> tuple[str, str]:
    key, person = _decode(value, 2, "after", "a cursor")
    return key, person


def _when(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else datetime.fromtimestamp(0)


@strawberry.type(description="One bar of the waterfall: a comparison, the level that held, and its match weight.")
class ComparisonWeight:
    comparison: str = strawberry.field(description='"prior", then given_name, family_name, date_of_birth, ….')
    level: str
    weight: float = strawberry.field(description="Bits of match weight this comparison added (with tfAdjustment).")
    tf_adjustment: float | None = strawberry.field(
        default=None, description="Part of weight from the term-frequency adjustment (a rare name counts more)."
    )
    external_value: str | None = strawberry.field(default=None, description="The external record's value compared.")
    person_value: str | None = strawberry.field(default=None, description="The core record's value compared.")


def comparisons_of(explanation: dict[str, Any] | None) -> list[ComparisonWeight]:
    """The stored waterfall (graph.linkage.model.Score.waterfall) as GraphQL values; empty for a deterministic link."""
    out = []
    for bar in (explanation or {}).get("waterfall") or []:
        tf = float(bar.get("tfAdjustment") or 0.0)
        out.append(
            ComparisonWeight(
                comparison=str(bar.get("comparison")),
                level=str(bar.get("level") or "prior"),
                weight=float(bar.get("weight") or 0.0) + tf,
                tf_adjustment=tf if "tfAdjustment" in bar else None,
                external_value=bar.get("left"),
                person_value=bar.get("right"),
            )
        )
    return out


@strawberry.type(description="An external identity linked to a person, with what linked it and why.")
class IdentityLink:
    source: str
    external_id: str
    method: str = strawberry.field(
        description='"probabilistic" (the model, automatically), "probabilistic:reviewed" (a steward accepted '
        'the model\'s candidate), "deterministic:nino" (a verified identifier), "steward:relinked", …'
    )
    confidence: float
    probability: float | None
    match_weight: float | None
    model_version: str | None
    linked_at: datetime
    linked_by: str
    comparisons: list[ComparisonWeight]
    reason: str | None = strawberry.field(default=None, description="Why the model decided as it did.")

    @classmethod
    def from_model(cls, link: repo.IdentityLink) -> IdentityLink:
        explanation = link.explanation or {}
        return cls(
            source=link.source,
            external_id=link.external_id,
            method=link.method,
            confidence=link.confidence,
            probability=link.probability,
            match_weight=link.match_weight,
            model_version=link.model_version,
            linked_at=_when(link.linked_at),
            linked_by=link.linked_by,
            comparisons=comparisons_of(link.explanation),
            reason=explanation.get("reason"),
        )


def links_view(links: Iterable[repo.IdentityLink]) -> list[IdentityLink]:
    return [IdentityLink.from_model(link) for link in links]


async def _person(info: Info, person_id: str | None) -> Person | None:
    if person_id is None:
        return None
    found = await info.context.loaders.person.load(person_id)
    return Person.from_model(found) if found is not None else None


@strawberry.type(description="A pair the model proposed and a steward should decide on.")
class IdentityCandidate:
    id: strawberry.ID
    source: str
    external_id: str
    record: JSON | None = strawberry.field(description="The external record's attributes as matched (normalised).")
    probability: float
    match_weight: float
    model_version: str
    comparisons: list[ComparisonWeight]
    proposed_at: datetime
    status: str = strawberry.field(description="PENDING, ACCEPTED, REJECTED or SUPERSEDED.")
    reason: str | None = strawberry.field(description="Why the model did not link it automatically.")
    person_id: strawberry.Private[str]

    @strawberry.field(description="The core person proposed.")
    async def person(self, info: Info) -> Person | None:
        return await _person(info, self.person_id)

    @classmethod
    def from_model(cls, c: repo.ReviewCandidate) -> IdentityCandidate:
        return cls(
            id=strawberry.ID(candidate_id(c.source, c.external_id, c.person_id)),
            source=c.source,
            external_id=c.external_id,
            record=c.external_record,
            probability=c.probability,
            match_weight=c.match_weight,
            model_version=c.model_version or "",
            comparisons=comparisons_of(c.explanation),
            proposed_at=_when(c.proposed_at),
            status=c.status,
            reason=c.explanation.get("reason"),
            person_id=c.person_id,
        )


@strawberry.type
class IdentityCandidateEdge:
    cursor: str
    node: IdentityCandidate


@strawberry.type
class IdentityCandidateConnection:
    edges: list[IdentityCandidateEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[IdentityCandidate]:
        return [e.node for e in self.edges]


@strawberry.type(description="What a steward decided about an identity, when, and why.")
class IdentityDecision:
    id: strawberry.ID
    action: str = strawberry.field(description="ACCEPT, REJECT, UNLINK or RELINK.")
    source: str
    external_id: str
    link: IdentityLink | None = strawberry.field(description="The link made (accept, relink) or removed (unlink).")
    decided_by: str
    reason: str
    decided_at: datetime
    purged_records: int | None = strawberry.field(
        default=None, description="Unlink and relink: cached records of the source removed for the person."
    )
    person_id: strawberry.Private[str | None] = None
    previous_person_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The person the decision is about (linked to, rejected, or unlinked from).")
    async def person(self, info: Info) -> Person | None:
        return await _person(info, self.person_id)

    @strawberry.field(description="Relink: the person the identity was moved away from.")
    async def previous_person(self, info: Info) -> Person | None:
        return await _person(info, self.previous_person_id)

    @classmethod
    def from_model(cls, d: StewardDecision, purged: int | None = None) -> IdentityDecision:
        return cls(
            id=strawberry.ID(d.id),
            action=d.action.value,
            source=d.source,
            external_id=d.external_id,
            link=IdentityLink.from_model(d.link) if d.link is not None else None,
            decided_by=d.decided_by,
            reason=d.reason,
            decided_at=_when(d.decided_at),
            purged_records=purged,
            person_id=d.person_id,
            previous_person_id=d.previous_person_id,
        )
