"""Typed events about a person, as `personEvents` emits them.

Case events carry the case's `parties` (not exposed), so the field policy can tell a paying parent from a
receiving one: e.g. what a payment was is the paying parent's detail, not the receiving parent's.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from schema.events import Event, EventKind
from schema.maintenance.types import Frequency, Parties


@strawberry.interface(description="Something that happened in a person's life, as it happened.")
class PersonEvent:
    position: str = strawberry.field(description="Where this event sits in the stream: pass as `after` to resume.")
    at: datetime
    person_id: strawberry.ID


@strawberry.type
class PaymentReceived(PersonEvent):
    parties: strawberry.Private[Parties]
    case_id: strawberry.ID
    # Nullable like every policy-gated field: a receiving parent gets null and a FORBIDDEN error.
    amount_pence: int | None = strawberry.field(description="What the paying parent paid (gross of any fee).")


@strawberry.type
class MaintenanceCaseOpened(PersonEvent):
    parties: strawberry.Private[Parties]
    case_id: strawberry.ID


@strawberry.type
class ScheduleChanged(PersonEvent):
    parties: strawberry.Private[Parties]
    case_id: strawberry.ID
    amount_pence: int
    frequency: Frequency  # type: ignore[valid-type]
    start_date: date


@strawberry.type
class ProfileChanged(PersonEvent):
    fields: list[str] = strawberry.field(description="Which of the person's fields changed.")


@strawberry.type
class ClaimStatusChanged(PersonEvent):
    claim_id: strawberry.ID
    claim_type: str
    status: str
    previous_status: str | None


@strawberry.type(description="The person's record was linked to an identity held by a connected source.")
class LinkAccepted(PersonEvent):
    connector: str
    method: str = strawberry.field(description="How the match was made (e.g. a verified identifier, the model).")
    confidence: float | None


EVENT_TYPES = (
    PaymentReceived,
    MaintenanceCaseOpened,
    ScheduleChanged,
    ProfileChanged,
    ClaimStatusChanged,
    LinkAccepted,
)


def person_event(event: Event, person_id: str) -> PersonEvent | None:
    """The typed form of `event` for `person_id`'s stream (None for a kind this API does not show)."""
    position, at, pid = event.position, event.at, strawberry.ID(person_id)
    d = event.data
    # A case event is about (paying parent, receiving parent), in that order (see schema.maintenance).
    paying, receiving = (*event.person_ids, "", "")[:2]
    parties: Parties = (paying, receiving)
    case_id = strawberry.ID(event.case_id or "")
    if event.kind is EventKind.PAYMENT_RECEIVED:
        return PaymentReceived(
            parties=parties,
            case_id=case_id,
            amount_pence=int(d["amountPence"]),
            position=position,
            at=at,
            person_id=pid,
        )
    if event.kind is EventKind.MAINTENANCE_CASE_OPENED:
        return MaintenanceCaseOpened(parties=parties, case_id=case_id, position=position, at=at, person_id=pid)
    if event.kind is EventKind.SCHEDULE_CHANGED:
        return ScheduleChanged(
            parties=parties,
            case_id=case_id,
            amount_pence=int(d["amountPence"]),
            frequency=d["frequency"],
            start_date=date.fromisoformat(d["startDate"]),
            position=position,
            at=at,
            person_id=pid,
        )
    if event.kind is EventKind.PROFILE_CHANGED:
        return ProfileChanged(fields=list(d.get("fields", [])), position=position, at=at, person_id=pid)
    if event.kind is EventKind.CLAIM_STATUS_CHANGED:
        return ClaimStatusChanged(
            claim_id=strawberry.ID(str(d["claimId"])),
            claim_type=str(d["claimType"]),
            status=str(d["status"]),
            previous_status=d.get("previousStatus"),
            position=position,
            at=at,
            person_id=pid,
        )
    if event.kind is EventKind.LINK_ACCEPTED:
        confidence = d.get("confidence")
        return LinkAccepted(
            connector=str(d["connector"]),
            method=str(d["method"]),
            confidence=float(confidence) if confidence is not None else None,
            position=position,
            at=at,
            person_id=pid,
        )
    return None
