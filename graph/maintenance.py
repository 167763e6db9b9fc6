"""Child-maintenance repository: cases, schedules, payments received, and the live position.

`(c:MaintenanceCase {id, scheme, createdAt, version})` with `PAYING_PARENT`, `RECEIVING_PARENT` and
one or more `QUALIFYING_CHILD` relationships to `Person`; `(c)-[:HAS_SCHEDULE]->(:Schedule {id,
amountPence, frequency, startDate, endDate})`; `(:Payment {id, receiptKey, amountPence, paidAt,
status, dueDate})-[:FOR_CASE]->(c)`. The maths lives in `graph.money`; nothing here stores a derived
figure, so a position is always computed from the payments as they stand.

Schedule writes lock the case write-first (bump `c.version` before reading its schedules), so two
concurrent changes are serialised and schedules never overlap. A payment is recorded by its receipt
key (unique): a duplicate receipt finds the first and is not applied again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from neo4j.exceptions import ConstraintError

from graph import timeline
from graph.driver import Graph, Tx, Work
from graph.errors import InvalidValue, NotFound
from graph.models import to_native, to_utc
from graph.money import (
    Frequency,
    MaintenanceCase,
    PayingPosition,
    Payment,
    PaymentStatus,
    ReceivingPosition,
    Role,
    Schedule,
    Scheme,
    check_amount,
    check_schedule,
    check_schedules,
    end_before,
    position,
)

MAX_CHILDREN = 20
MAX_RECEIPT_KEY = 200
# A receipt stamped a little ahead of our clock is accepted; one from further ahead is refused.
CLOCK_SKEW = timedelta(minutes=5)
# Concurrent MERGEs of one receipt key: all but one raise ConstraintError on ArcadeDB (shared
# PLATFORM.md); running the MERGE again then finds the winner's payment.
MERGE_ATTEMPTS = 3

T = TypeVar("T")

_SCHEDULE = "{.id, .amountPence, .frequency, .startDate, .endDate}"
_PAYMENT = "{.id, .amountPence, .paidAt, .receiptKey, .status, .dueDate}"
# One case with its people, schedules and payments: one statement, whatever the batch size.
_CASE = (
    "c {.id, .scheme, .createdAt, "
    "paying: head(COLLECT { MATCH (c)-[:PAYING_PARENT]->(p:Person) RETURN p.id }), "
    "receiving: head(COLLECT { MATCH (c)-[:RECEIVING_PARENT]->(p:Person) RETURN p.id }), "
    "children: COLLECT { MATCH (c)-[:QUALIFYING_CHILD]->(p:Person) RETURN p.id ORDER BY p.id }, "
    f"schedules: COLLECT {{ MATCH (c)-[:HAS_SCHEDULE]->(s:Schedule) RETURN s {_SCHEDULE} ORDER BY s.startDate }}, "
    f"payments: COLLECT {{ MATCH (c)<-[:FOR_CASE]-(y:Payment) RETURN y {_PAYMENT} ORDER BY y.paidAt, y.id }}"
    "}"
)


@dataclass(frozen=True, slots=True)
class PersonCase:
    """A case a person is a parent in, and which parent they are."""

    role: Role
    case: MaintenanceCase


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """`ended` is the schedule the change cut short (None when none was running on the new start date)."""

    ended: Schedule | None
    started: Schedule


@dataclass(frozen=True, slots=True)
class PaymentReceipt:
    """`applied` is False when the receipt key had been recorded already (`payment` is that record)."""

    payment: Payment
    applied: bool


def schedule_from_row(row: dict[str, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        amount_pence=row["amountPence"],
        frequency=Frequency(row["frequency"]),
        start_date=to_native(row["startDate"]),
        end_date=to_native(row.get("endDate")),
    )


def payment_from_row(row: dict[str, Any]) -> Payment:
    return Payment(
        id=row["id"],
        amount_pence=row["amountPence"],
        paid_at=to_utc(row["paidAt"]),
        receipt_key=row["receiptKey"],
        status=PaymentStatus(row.get("status") or PaymentStatus.RECEIVED),
        due_date=to_native(row.get("dueDate")),
    )


def case_from_row(row: dict[str, Any]) -> MaintenanceCase:
    return MaintenanceCase(
        id=row["id"],
        scheme=Scheme(row["scheme"]),
        created_at=to_utc(row["createdAt"]),
        paying_parent_id=row["paying"],
        receiving_parent_id=row["receiving"],
        child_ids=tuple(row["children"]),
        schedules=tuple(schedule_from_row(s) for s in row["schedules"]),
        payments=tuple(payment_from_row(p) for p in row["payments"]),
    )


def _schedule_props(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "amountPence": s.amount_pence,
        "frequency": s.frequency.value,
        "startDate": s.start_date,
        "endDate": s.end_date,
    }


# --- cases ---------------------------------------------------------------------------------------


async def create_case(
    graph: Graph, scheme: Scheme, paying_parent_id: str, receiving_parent_id: str, child_ids: Sequence[str]
) -> MaintenanceCase:
    """Open a case between two existing parents for one or more existing children."""
    scheme = Scheme(scheme)
    children = tuple(dict.fromkeys(child_ids))
    if paying_parent_id == receiving_parent_id:
        raise InvalidValue("receivingParentId", "the receiving parent must not be the paying parent")
    if not children:
        raise InvalidValue("childIds", "a case needs at least one qualifying child")
    if len(children) > MAX_CHILDREN:
        raise InvalidValue("childIds", f"a case has at most {MAX_CHILDREN} qualifying children")
    if {paying_parent_id, receiving_parent_id} & set(children):
        raise InvalidValue("childIds", "a parent in the case cannot be one of its qualifying children")
    props = {"id": str(uuid.uuid4()), "scheme": scheme.value, "createdAt": datetime.now(UTC), "version": 1}
    everyone = [paying_parent_id, receiving_parent_id, *children]

    async def work(tx: Tx) -> MaintenanceCase:
        rows = await tx.fetch("UNWIND $ids AS i MATCH (p:Person {id: i}) RETURN p.id AS id", {"ids": everyone})
        present = {r["id"] for r in rows}
        for pid in everyone:
            if pid not in present:
                raise NotFound("Person", pid)
        row = await tx.fetch_one(
            "MATCH (pp:Person {id: $paying}) MATCH (rp:Person {id: $receiving}) "
            "CREATE (c:MaintenanceCase) SET c = $props "
            "CREATE (c)-[:PAYING_PARENT]->(pp) CREATE (c)-[:RECEIVING_PARENT]->(rp) "
            "WITH c UNWIND $children AS k MATCH (q:Person {id: k}) CREATE (c)-[:QUALIFYING_CHILD]->(q) "
            f"WITH c, count(q) AS n RETURN {_CASE} AS c",
            {"paying": paying_parent_id, "receiving": receiving_parent_id, "children": list(children), "props": props},
        )
        assert row is not None
        case = case_from_row(row["c"])
        opened = {"scheme": case.scheme.value}
        await timeline.record_for_case(
            tx,
            case.id,
            timeline.LifeEventType.MAINTENANCE_CASE_OPENED,
            timeline.LifeEventType.MAINTENANCE_CASE_OPENED,
            {**opened, "role": Role.PAYING.value},
            {**opened, "role": Role.RECEIVING.value},
        )
        return case

    return await graph.write(work)


async def get_cases(graph: Graph, ids: Sequence[str]) -> list[MaintenanceCase | None]:
    """Batch lookup for loaders: cases with their schedules and payments in one statement, in key order."""
    if not ids:
        return []
    # One read-only statement: auto-commit, one round trip fewer than a managed read (Graph.read_statement).
    rows = await graph.read_statement(
        f"UNWIND $ids AS i MATCH (c:MaintenanceCase {{id: i}}) RETURN i AS k, {_CASE} AS c",
        {"ids": list(ids)},
        label="maintenance.get_cases",
    )
    found = {r["k"]: case_from_row(r["c"]) for r in rows}
    return [found.get(i) for i in ids]


async def get_case(graph: Graph, case_id: str) -> MaintenanceCase:
    [case] = await get_cases(graph, [case_id])
    if case is None:
        raise NotFound("MaintenanceCase", case_id)
    return case


# One fixed branch per role, joined by UNION ALL: relationship types are never taken from input.
_CASES_FOR_PERSON = " UNION ALL ".join(
    f"UNWIND $ids AS i MATCH (:Person {{id: i}})<-[:{rel}]-(c:MaintenanceCase) RETURN i, '{role}' AS role, {_CASE} AS c"
    for role, rel in ((Role.PAYING.value, "PAYING_PARENT"), (Role.RECEIVING.value, "RECEIVING_PARENT"))
)


async def cases_for_person(graph: Graph, person_ids: Sequence[str]) -> list[list[PersonCase]]:
    """For each person id, the cases they are the paying or receiving parent in, oldest first.

    One statement for the whole batch (a DataLoader's); each case comes whole, ready for `position`.
    """
    if not person_ids:
        return []
    found: dict[str, list[PersonCase]] = {i: [] for i in person_ids}
    rows = await graph.read_statement(
        _CASES_FOR_PERSON, {"ids": list(person_ids)}, label="maintenance.cases_for_person"
    )  # auto-commit, as get_cases
    for row in rows:
        found[row["i"]].append(PersonCase(role=Role(row["role"]), case=case_from_row(row["c"])))
    for cases in found.values():
        cases.sort(key=lambda pc: (pc.case.created_at, pc.case.id))
    return [found[i] for i in person_ids]


# --- schedules -----------------------------------------------------------------------------------


async def _lock_schedules(tx: Tx, case_id: str) -> list[Schedule]:
    """Bump the case's version (write first: concurrent schedule writers queue here), then read its schedules."""
    row = await tx.fetch_one(
        "MATCH (c:MaintenanceCase {id: $id}) SET c.version = coalesce(c.version, 0) + 1 "
        f"RETURN COLLECT {{ MATCH (c)-[:HAS_SCHEDULE]->(s:Schedule) RETURN s {_SCHEDULE} }} AS schedules",
        {"id": case_id},
    )
    if row is None:
        raise NotFound("MaintenanceCase", case_id)
    return [schedule_from_row(s) for s in row["schedules"]]


async def _create_schedule(tx: Tx, case_id: str, schedule: Schedule, ended: Schedule | None = None) -> None:
    """Create `schedule`, and in the same statement store the end date of the one it replaces."""
    await tx.fetch(
        "MATCH (c:MaintenanceCase {id: $case}) "
        "OPTIONAL MATCH (c)-[:HAS_SCHEDULE]->(old:Schedule {id: $ended}) "
        "FOREACH (_ IN CASE WHEN old IS NULL THEN [] ELSE [1] END | SET old.endDate = $end) "
        "CREATE (c)-[:HAS_SCHEDULE]->(s:Schedule) SET s = $props",
        {
            "case": case_id,
            "props": _schedule_props(schedule),
            "ended": ended.id if ended else None,
            "end": ended.end_date if ended else None,
        },
    )


async def _schedule_event(tx: Tx, case_id: str, schedule: Schedule) -> None:
    """Both parents' timelines note the new schedule (both parents may read a case's schedules)."""
    detail = {
        "amountPence": schedule.amount_pence,
        "frequency": schedule.frequency.value,
        "startDate": schedule.start_date.isoformat(),
    }
    kind = timeline.LifeEventType.SCHEDULE_CHANGED
    await timeline.record_for_case(tx, case_id, kind, kind, detail, detail)


def _new_schedule(amount_pence: int, frequency: Frequency, start_date: date, end_date: date | None) -> Schedule:
    return check_schedule(
        Schedule(
            id=str(uuid.uuid4()),
            amount_pence=check_amount(amount_pence),
            frequency=Frequency(frequency),
            start_date=start_date,
            end_date=end_date,
        )
    )


async def add_schedule(
    graph: Graph,
    case_id: str,
    amount_pence: int,
    frequency: Frequency,
    start_date: date,
    end_date: date | None = None,
) -> Schedule:
    """Add a schedule that overlaps none of the case's others (`change_schedule` changes one)."""
    new = _new_schedule(amount_pence, frequency, start_date, end_date)

    async def work(tx: Tx) -> Schedule:
        existing = await _lock_schedules(tx, case_id)
        check_schedules([*existing, new])
        await _create_schedule(tx, case_id, new)
        await _schedule_event(tx, case_id, new)
        return new

    return await graph.write(work)


async def change_schedule(
    graph: Graph, case_id: str, amount_pence: int, frequency: Frequency, start_date: date
) -> ScheduleChange:
    """Change the case's schedule from `start_date`: the latest schedule ends the day before.

    The new schedule must start after the latest one starts; it is open-ended.
    """
    new = _new_schedule(amount_pence, frequency, start_date, None)

    async def work(tx: Tx) -> ScheduleChange:
        existing = sorted(await _lock_schedules(tx, case_id), key=lambda s: s.start_date)
        if not existing:
            await _create_schedule(tx, case_id, new)
            await _schedule_event(tx, case_id, new)
            return ScheduleChange(ended=None, started=new)
        current = existing[-1]
        ended = end_before(current, new.start_date)
        check_schedules([*existing[:-1], ended, new])
        cut_short = ended if ended != current else None
        await _create_schedule(tx, case_id, new, cut_short)
        await _schedule_event(tx, case_id, new)
        return ScheduleChange(ended=cut_short, started=new)

    return await graph.write(work)


# --- payments ------------------------------------------------------------------------------------


def checked_payment(
    amount_pence: int, paid_at: datetime, receipt_key: str, due_date: date | None = None
) -> tuple[str, dict[str, Any]]:
    """Validate a payment before the graph: its receipt key and the properties of a new `Payment` node."""
    check_amount(amount_pence)
    key = receipt_key.strip()
    if not key or len(key) > MAX_RECEIPT_KEY:
        raise InvalidValue("receiptKey", f"must be 1 to {MAX_RECEIPT_KEY} characters")
    if paid_at.tzinfo is None:
        raise InvalidValue("paidAt", "must carry a time zone")
    if paid_at > datetime.now(UTC) + CLOCK_SKEW:
        raise InvalidValue("paidAt", "must not be in the future")
    props = {
        "id": str(uuid.uuid4()),
        "amountPence": amount_pence,
        "paidAt": paid_at.astimezone(UTC),
        "status": PaymentStatus.RECEIVED.value,
        "dueDate": due_date,
    }
    return key, props


async def merge_payment(tx: Tx, case_id: str, key: str, props: dict[str, Any]) -> PaymentReceipt:
    """Inside a caller's write transaction: the payment by receipt key, created unless already recorded.

    For callers that must commit the payment together with something else (a webhook's receipt).
    """
    row = await tx.fetch_one(
        "MATCH (c:MaintenanceCase {id: $case}) "
        "MERGE (y:Payment {receiptKey: $key}) ON CREATE SET y += $props "
        "WITH c, y, y.id = $id AS created "
        "FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | CREATE (y)-[:FOR_CASE]->(c)) "
        f"RETURN created, y {_PAYMENT} AS y, [(y)-[:FOR_CASE]->(x:MaintenanceCase) | x.id] AS cases",
        {"case": case_id, "key": key, "id": props["id"], "props": props},
    )
    if row is None:
        raise NotFound("MaintenanceCase", case_id)
    payment = payment_from_row(row["y"])
    if not row["created"] and (row["cases"] != [case_id] or payment.amount_pence != props["amountPence"]):
        raise InvalidValue("receiptKey", "already recorded for a different payment")
    if row["created"]:
        # The paying parent's timeline says what they paid; the receiving parent's only that money came in
        # (what they receive, net of any fee, is in their position).
        paid = {"paymentId": payment.id, "paidAt": payment.paid_at.isoformat()}
        await timeline.record_for_case(
            tx,
            case_id,
            timeline.LifeEventType.PAYMENT_MADE,
            timeline.LifeEventType.PAYMENT_RECEIVED,
            {**paid, "amountPence": payment.amount_pence},
            paid,
        )
    return PaymentReceipt(payment=payment, applied=bool(row["created"]))


async def record_payment(
    graph: Graph,
    case_id: str,
    amount_pence: int,
    paid_at: datetime,
    receipt_key: str,
    due_date: date | None = None,
) -> PaymentReceipt:
    """Record money received for a case, once per `receipt_key` however often (or concurrently) it is sent.

    A key already recorded for a different case or amount is refused: it is not the same receipt.
    """
    key, props = checked_payment(amount_pence, paid_at, receipt_key, due_date)

    async def work(tx: Tx) -> PaymentReceipt:
        return await merge_payment(tx, case_id, key, props)

    return await write_merging(graph, work)


async def write_merging(graph: Graph, work: Work[T]) -> T:
    """Run a write whose MERGE on a unique key may race: a loser's ConstraintError is retried, and the
    retry's MERGE then finds the winner's node."""
    for attempt in range(MERGE_ATTEMPTS):
        try:
            return await graph.write(work)
        except ConstraintError:
            if attempt == MERGE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# --- position ------------------------------------------------------------------------------------


async def position_for(graph: Graph, case_id: str, as_of: date, viewer: Role) -> PayingPosition | ReceivingPosition:
    """The case's financial position on `as_of` as `viewer` may see it, from one read of the graph."""
    return position(await get_case(graph, case_id), as_of, Role(viewer))


# --- dev sign-in (issue 8) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseParents:
    case_id: str
    scheme: str
    paying: str | None
    receiving: str | None


async def newest_case_parents(graph: Graph, limit: int = 20) -> list[CaseParents]:
    """The parents' ids of the newest `limit` cases, newest first: whom a dev sign-in may pick (ids only)."""

    async def work(tx: Tx) -> list[CaseParents]:
        rows = await tx.fetch(
            "MATCH (c:MaintenanceCase) WITH c ORDER BY c.createdAt DESC, c.id LIMIT $limit "
            "RETURN c.id AS id, c.scheme AS scheme, "
            "head(COLLECT { MATCH (c)-[:PAYING_PARENT]->(p:Person) RETURN p.id }) AS paying, "
            "head(COLLECT { MATCH (c)-[:RECEIVING_PARENT]->(p:Person) RETURN p.id }) AS receiving",
            {"limit": limit},
        )
        return [CaseParents(r["id"], r["scheme"], r["paying"], r["receiving"]) for r in rows]

    return await graph.read(work)
