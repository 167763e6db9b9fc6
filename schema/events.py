"""Domain events as the schema publishes and subscribes to them; the transport is the hub's (`hub.events`).

The schema only needs something that can publish an `Event` and, for a topic, open a stream of them;
`EventBus` is that contract, so `schema` never imports `hub` (arrows: hub -> schema -> graph).
Topics are `case:<id>` and `person:<id>`: an event goes to its case (if any) and to each person it is about.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED"
    MAINTENANCE_CASE_OPENED = "MAINTENANCE_CASE_OPENED"
    SCHEDULE_CHANGED = "SCHEDULE_CHANGED"
    PROFILE_CHANGED = "PROFILE_CHANGED"
    CLAIM_STATUS_CHANGED = "CLAIM_STATUS_CHANGED"
    LINK_ACCEPTED = "LINK_ACCEPTED"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed in the graph. `position` is set on delivery: where it sits in its topic's
    stream, for a subscriber to resume after."""

    kind: EventKind
    person_ids: tuple[str, ...]
    case_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    position: str = ""

    @property
    def topics(self) -> tuple[str, ...]:
        case = (f"case:{self.case_id}",) if self.case_id else ()
        return case + tuple(f"person:{p}" for p in dict.fromkeys(self.person_ids))

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "kind": self.kind.value,
                "person_ids": list(self.person_ids),
                "case_id": self.case_id,
                "data": self.data,
                "at": self.at.isoformat(),
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str, position: str = "") -> Event:
        d = orjson.loads(raw)
        return cls(
            kind=EventKind(d["kind"]),
            person_ids=tuple(d["person_ids"]),
            case_id=d.get("case_id"),
            data=d.get("data") or {},
            at=datetime.fromisoformat(d["at"]),
            position=position,
        )


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """Fan the event out to every subscriber of its topics, on every replica, and append it to their streams."""
        ...

    def listen(self, topic: str, after: str | None = None) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Events of `topic`: those after stream position `after` first (replay), then live ones.

        Live delivery is guaranteed from when the context is entered.
        """
        ...


async def publish(bus: EventBus | None, event: Event) -> None:
    """Tell live subscribers of a write that has committed: a cache outage must not fail the write.

    The graph holds the change whatever happens here; only its live notice can be lost.
    """
    if bus is None:
        return
    try:
        await bus.publish(event)
    except Exception as exc:  # noqa: BLE001 - any transport failure: logged, the write stands
        log.warning("event not published (%s): %s", type(exc).__name__, event.kind.value)


def claim_status_changed(person_id: str, claim_id: str, claim_type: str, status: str, previous: str | None) -> Event:
    """The event a claim-status write publishes once committed (with `graph.timeline.record` in its transaction).

    `publish(bus, claim_status_changed(...))`: subscribers of `personEvents(personId)` get `ClaimStatusChanged`.
    """
    return Event(
        EventKind.CLAIM_STATUS_CHANGED,
        (person_id,),
        data={"claimId": claim_id, "claimType": claim_type, "status": status, "previousStatus": previous},
    )


def link_accepted(person_id: str, connector: str, method: str, confidence: float | None = None) -> Event:
    """The event an accepted identity link publishes once committed (issue 12's link writes call this).

    Carries which connector and how it was matched, never the outside identifier itself.
    """
    return Event(
        EventKind.LINK_ACCEPTED,
        (person_id,),
        data={"connector": connector, "method": method, "confidence": confidence},
    )
