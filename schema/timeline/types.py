"""`Person.timeline`: a Relay-style connection of life events (`graph.timeline`), newest first.

Each event is one person's own (a payment is two events: the paying parent's with the amount, the
receiving parent's without), so who may read a timeline decides who sees its events: a citizen their own,
a caseworker anyone's for their purpose (config/policies.yaml). Cursors are opaque and keyset.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from graph import timeline as repo
from graph.errors import InvalidValue
from schema.context import Info
from schema.people.queries import PageInfo, decode_cursor, encode_cursor

DEFAULT_PAGE = 20
_TAG = "timeline"  # a people-search cursor is not a timeline cursor

LifeEventType = strawberry.enum(repo.LifeEventType, name="LifeEventType")

_SUMMARY = {
    repo.LifeEventType.MOVED_ADDRESS: "Moved address",
    repo.LifeEventType.EMPLOYER_CHANGED: "New employer",
    repo.LifeEventType.CLAIM_STATUS_CHANGED: "Claim status changed",
    repo.LifeEventType.PAYMENT_MADE: "Child maintenance payment made",
    repo.LifeEventType.PAYMENT_RECEIVED: "Child maintenance payment received",
    repo.LifeEventType.CONSENT_GRANTED: "Consent given to a connected source",
    repo.LifeEventType.CONSENT_REVOKED: "Consent withdrawn from a connected source",
    repo.LifeEventType.MAINTENANCE_CASE_OPENED: "Child maintenance case opened",
    repo.LifeEventType.SCHEDULE_CHANGED: "Child maintenance schedule changed",
    repo.LifeEventType.LINK_ACCEPTED: "Record linked to an outside identity",
}


@strawberry.type(name="LifeEvent", description="Something that happened in a person's life, as the hub recorded it.")
class LifeEventNode:
    id: strawberry.ID
    type: LifeEventType  # type: ignore[valid-type]
    occurred_at: datetime
    source: str = strawberry.field(description="Where it came from: `hub` or a connector's name.")
    case_id: strawberry.ID | None
    summary: str
    detail: JSON = strawberry.field(description="What changed, by type (e.g. amountPence, connector, frequency).")

    @classmethod
    def from_model(cls, e: repo.LifeEvent) -> LifeEventNode:
        return cls(
            id=strawberry.ID(e.id),
            type=e.type,
            occurred_at=e.occurred_at,
            source=e.source,
            case_id=strawberry.ID(e.case_id) if e.case_id else None,
            summary=_SUMMARY[e.type],
            detail=e.data,
        )


@strawberry.type
class LifeEventEdge:
    cursor: str
    node: LifeEventNode


@strawberry.type
class LifeEventConnection:
    edges: list[LifeEventEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[LifeEventNode]:
        return [e.node for e in self.edges]


def _after(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    tag, at, event_id = decode_cursor(cursor)
    if tag != _TAG:
        raise InvalidValue("after", "not a cursor returned by this API")
    return at, event_id


async def timeline_of(info: Info, person_id: str, first: int, after: str | None) -> LifeEventConnection:
    page = await repo.timeline(info.context.graph, person_id, first, _after(after))
    edges = [
        LifeEventEdge(cursor=encode_cursor((_TAG, *e.cursor)), node=LifeEventNode.from_model(e)) for e in page.events
    ]
    return LifeEventConnection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None)
    )
