"""Life events: a person's journey timeline, written with the change that causes it.

`(p:Person)-[:HAD_EVENT]->(e:LifeEvent {id, personId, type, occurredAt, source, caseId, data})`. Each event
belongs to one person and holds only what that person may know about it: a payment on a case is two
events, the paying parent's (with the amount paid) and the receiving parent's (without it), so a person's
timeline never carries another person's detail (address, employer, payments).

Writers call `record` / `record_for_case` inside the transaction of the write that causes the event, so the
event exists exactly when the change does (a rolled-back write leaves no event, a retried one no
duplicate). `occurredAt` is an ISO 8601 UTC string with microseconds, so its text order is time order.
Pages are keyset pages, newest first, on `(occurredAt, id)` within one person: the `personId` index finds
the person's events and only those are sorted (a person has hundreds, not millions).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from graph.driver import Graph, Tx
from graph.errors import InvalidValue, NotFound

MAX_PAGE = 100


class LifeEventType(StrEnum):
    MOVED_ADDRESS = "MOVED_ADDRESS"
    EMPLOYER_CHANGED = "EMPLOYER_CHANGED"
    CLAIM_STATUS_CHANGED = "CLAIM_STATUS_CHANGED"
    PAYMENT_MADE = "PAYMENT_MADE"  # the paying parent's side of a payment
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED"  # the receiving parent's side
    CONSENT_GRANTED = "CONSENT_GRANTED"
    CONSENT_REVOKED = "CONSENT_REVOKED"
    MAINTENANCE_CASE_OPENED = "MAINTENANCE_CASE_OPENED"
    SCHEDULE_CHANGED = "SCHEDULE_CHANGED"
    LINK_ACCEPTED = "LINK_ACCEPTED"


@dataclass(frozen=True, slots=True)
class NewLifeEvent:
    """An event to record for `person_id`; `source` is where it came from (`hub`, a connector's name)."""

    person_id: str
    type: LifeEventType
    source: str = "hub"
    case_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LifeEvent:
    id: str
    person_id: str
    type: LifeEventType
    occurred_at: datetime
    source: str
    case_id: str | None
    data: dict[str, Any]

    @property
    def cursor(self) -> tuple[str, str]:
        return _stamp(self.occurred_at), self.id


@dataclass(frozen=True, slots=True)
class TimelinePage:
    events: list[LifeEvent]
    has_next: bool


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _props(event: NewLifeEvent, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "personId": event.person_id,
        "type": LifeEventType(event.type).value,
        "occurredAt": _stamp(at),
        "source": event.source,
        "caseId": event.case_id,
        # A JSON string: the event's detail varies by type and is read whole, never queried into.
        "data": orjson.dumps(dict(event.data), option=orjson.OPT_SORT_KEYS).decode(),
    }


def _event(row: dict[str, Any]) -> LifeEvent:
    return LifeEvent(
        id=row["id"],
        person_id=row["personId"],
        type=LifeEventType(row["type"]),
        occurred_at=datetime.fromisoformat(row["occurredAt"]),
        source=row["source"],
        case_id=row.get("caseId"),
        data=orjson.loads(row["data"]) if row.get("data") else {},
    )


_FIELDS = "{.id, .personId, .type, .occurredAt, .source, .caseId, .data}"


async def record(tx: Tx, events: Sequence[NewLifeEvent], at: datetime | None = None) -> int:
    """Inside the caller's write transaction: add events to their people's timelines; how many were added
    (an unknown person gets none)."""
    if not events:
        return 0
    at = at or datetime.now(UTC)
    row = await tx.fetch_one(
        "UNWIND $events AS e MATCH (p:Person {id: e.personId}) "
        "CREATE (p)-[:HAD_EVENT]->(l:LifeEvent) SET l = e RETURN count(l) AS n",
        {"events": [_props(e, at) for e in events]},
    )
    return int(row["n"]) if row else 0


async def record_for_case(
    tx: Tx,
    case_id: str,
    type_for_paying: LifeEventType,
    type_for_receiving: LifeEventType,
    paying: Mapping[str, Any],
    receiving: Mapping[str, Any],
    source: str = "hub",
) -> None:
    """Inside the caller's transaction: one event for each parent of a case, each with its own detail."""
    at = datetime.now(UTC)
    await tx.fetch(
        "MATCH (c:MaintenanceCase {id: $case})-[:PAYING_PARENT]->(pp:Person) "
        "MATCH (c)-[:RECEIVING_PARENT]->(rp:Person) "
        "CREATE (pp)-[:HAD_EVENT]->(a:LifeEvent) SET a = $paying, a.personId = pp.id "
        "CREATE (rp)-[:HAD_EVENT]->(b:LifeEvent) SET b = $receiving, b.personId = rp.id",
        {
            "case": case_id,
            "paying": _props(NewLifeEvent("", type_for_paying, source, case_id, paying), at),
            "receiving": _props(NewLifeEvent("", type_for_receiving, source, case_id, receiving), at),
        },
    )


async def record_events(graph: Graph, events: Sequence[NewLifeEvent]) -> int:
    """Record events in a transaction of their own, for a change already committed elsewhere (a connector
    noticing a new employer); a write that the graph makes itself records them in its own transaction."""

    async def work(tx: Tx) -> int:
        return await record(tx, events)

    return await graph.write(work)


async def timeline(graph: Graph, person_id: str, first: int, after: tuple[str, str] | None = None) -> TimelinePage:
    """The person's events newest first, `first` of them after the cursor `after` (an event's `cursor`)."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidValue("first", f"must be between 1 and {MAX_PAGE}")

    async def work(tx: Tx) -> TimelinePage:
        rows = await tx.fetch(
            "MATCH (p:Person {id: $person}) "
            "OPTIONAL MATCH (l:LifeEvent {personId: $person}) "
            "WHERE $at IS NULL OR l.occurredAt < $at OR (l.occurredAt = $at AND l.id < $id) "
            f"WITH p, l ORDER BY l.occurredAt DESC, l.id DESC LIMIT $limit "
            f"RETURN p.id AS person, CASE WHEN l IS NULL THEN null ELSE l {_FIELDS} END AS l",
            {
                "person": person_id,
                "at": after[0] if after else None,
                "id": after[1] if after else None,
                "limit": first + 1,
            },
        )
        if not rows:
            raise NotFound("Person", person_id)
        events = [_event(r["l"]) for r in rows if r["l"] is not None]
        return TimelinePage(events=events[:first], has_next=len(events) > first)

    return await graph.read(work)
