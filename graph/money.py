"""Child-maintenance maths: schedules to instalments, Collect & Pay fees, allocation, the position.

Pure functions over plain frozen data; no I/O (`graph.maintenance` loads a case and calls these).
The rules are a simplified but explicit model of the UK Child Maintenance Service (CMS):

Money
  Integer pence throughout; no float is ever involved.

Fees (the CMS collection fees)
  Collect & Pay adds a 20% collection fee to what the paying parent pays and deducts 4% from what the
  receiving parent receives; Direct Pay has neither. Both are computed *per instalment* on its
  maintenance amount, rounded half up to the whole penny (`percent_of`). For integer pence an exact
  half penny cannot arise at 20% (amount/5) or 4% (amount/25), so half-up is nearest-penny here; the
  half-up rule matters only for other rates and is tested with them.

Due dates (`due_dates`)
  The first instalment is due on the schedule's start date. Weekly, fortnightly and four-weekly
  instalments follow every 7, 14 and 28 days. Monthly instalments fall on the start date's day of the
  month, clamped to the month's last day, and always counted from the start date, so a schedule
  starting 31 January is due 28 (29 in a leap year) February, then 31 March, 30 April, 31 May. An
  instalment is owed in full if its due date lies within the schedule (no pro-rating).

Schedule changes (`end_before`, `check_schedules`)
  Schedules of one case never overlap: a change ends the old schedule the day before the new one
  starts. Only the latest schedule may be open-ended.

Allocation (`allocate`)
  Payments are allocated to the oldest instalment first. Within an instalment, a payment covers the
  maintenance first and the collection fee last, so a part payment reaches the child before the fee.
  What the receiving parent gets from an instalment is the maintenance covered less 4% of it (rounded
  as above), which equals the instalment's net amount once its maintenance is paid in full. (Rounding
  the 4% on the part covered means a part payment a penny short can already pass on the full net
  amount, e.g. 12p of 13p; the paying parent still owes the penny.)

Position as of a date (`position`)
  A payment counts from the UTC calendar date of `paid_at`; payments after `as_of` are ignored. The
  instalments "due to date" are those due on or before `as_of`. An instalment due today is `DUE`, not
  yet arrears; arrears (and the receiving parent's shortfall) are what remains unpaid on instalments
  whose due date has passed. Money paid beyond everything due to date is credit, carried forward to
  the next instalments (it lowers the next payment). Statuses: `PAID` in full; `PART_PAID` some but
  not all; `MISSED` nothing paid and the due date has passed; `DUE` nothing paid, due today or later.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import count

from graph.errors import InvalidValue

COLLECTION_FEE_BASIS_POINTS = 2_000  # 20% added for the paying parent (Collect & Pay)
COLLECTION_DEDUCTION_BASIS_POINTS = 400  # 4% deducted for the receiving parent (Collect & Pay)
MAX_AMOUNT_PENCE = 100_000_000  # £1m per instalment or payment: anything above is a typing error
RECENT_PAYMENTS = 5
# How many future instalments credit may be carried into when looking for the next payment.
MAX_LOOKAHEAD = 1_000


class Scheme(StrEnum):
    DIRECT_PAY = "DIRECT_PAY"
    COLLECT_AND_PAY = "COLLECT_AND_PAY"


class Frequency(StrEnum):
    WEEKLY = "WEEKLY"
    FORTNIGHTLY = "FORTNIGHTLY"
    FOUR_WEEKLY = "FOUR_WEEKLY"
    MONTHLY = "MONTHLY"


_DAYS = {Frequency.WEEKLY: 7, Frequency.FORTNIGHTLY: 14, Frequency.FOUR_WEEKLY: 28}


class Role(StrEnum):
    """Whose view of a case: the parent who pays or the parent who receives."""

    PAYING = "PAYING"
    RECEIVING = "RECEIVING"


class InstalmentStatus(StrEnum):
    PAID = "PAID"
    PART_PAID = "PART_PAID"
    MISSED = "MISSED"
    DUE = "DUE"


class PaymentStatus(StrEnum):
    RECEIVED = "RECEIVED"


@dataclass(frozen=True, slots=True)
class Schedule:
    """`amount_pence` of maintenance per instalment, before any fee or deduction."""

    id: str
    amount_pence: int
    frequency: Frequency
    start_date: date
    end_date: date | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received from the paying parent (gross: for Collect & Pay it includes the fee).

    `due_date` is the instalment the sender said it was for, kept for the record only: allocation is
    always oldest instalment first.
    """

    id: str
    amount_pence: int
    paid_at: datetime
    receipt_key: str
    status: PaymentStatus = PaymentStatus.RECEIVED
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceCase:
    """A case with everything its position is computed from; schedules by start, payments by time."""

    id: str
    scheme: Scheme
    created_at: datetime
    paying_parent_id: str
    receiving_parent_id: str
    child_ids: tuple[str, ...]
    schedules: tuple[Schedule, ...] = ()
    payments: tuple[Payment, ...] = ()

    def role_of(self, person_id: str) -> Role | None:
        if person_id == self.paying_parent_id:
            return Role.PAYING
        if person_id == self.receiving_parent_id:
            return Role.RECEIVING
        return None


@dataclass(frozen=True, slots=True)
class Instalment:
    """One amount falling due, with what the scheme adds for the payer and deducts for the receiver."""

    due_date: date
    schedule_id: str
    amount_pence: int
    fee_pence: int
    deduction_pence: int

    @property
    def total_pence(self) -> int:
        """What the paying parent owes for this instalment."""
        return self.amount_pence + self.fee_pence

    @property
    def net_pence(self) -> int:
        """What the receiving parent gets for this instalment once it is paid in full."""
        return self.amount_pence - self.deduction_pence


@dataclass(frozen=True, slots=True)
class Allocation:
    """`allocated[i]` pence of the payments went to instalment i; `unallocated_pence` were left over."""

    allocated: tuple[int, ...]
    unallocated_pence: int


@dataclass(frozen=True, slots=True)
class PayingInstalment:
    due_date: date
    amount_pence: int
    fee_pence: int
    total_pence: int
    paid_pence: int
    status: InstalmentStatus


@dataclass(frozen=True, slots=True)
class NextPayment:
    """The next instalment not yet covered by what was paid: what is still to pay on it, fee included."""

    due_date: date
    amount_pence: int
    fee_pence: int


@dataclass(frozen=True, slots=True)
class NextReceipt:
    """The next instalment not yet covered: what the receiving parent is still to receive from it."""

    due_date: date
    amount_pence: int
    deduction_pence: int


@dataclass(frozen=True, slots=True)
class PayingPosition:
    """The paying parent's position; every amount includes the collection fee where there is one.

    `outstanding_pence` = due to date - paid (never negative) = arrears + what is unpaid on an
    instalment due today; `credit_pence` = paid - due to date (never negative);
    `paid_pence` = sum of the instalments' `paid_pence` + `credit_pence`.
    """

    case_id: str
    scheme: Scheme
    as_of: date
    due_to_date_pence: int
    fees_to_date_pence: int
    paid_pence: int
    outstanding_pence: int
    arrears_pence: int
    credit_pence: int
    next_payment: NextPayment | None
    instalments: tuple[PayingInstalment, ...]
    recent_payments: tuple[Payment, ...]


@dataclass(frozen=True, slots=True)
class ReceivingInstalment:
    due_date: date
    expected_pence: int
    deduction_pence: int
    received_pence: int
    status: InstalmentStatus


@dataclass(frozen=True, slots=True)
class ReceivingPosition:
    """The receiving parent's position; every amount is net of the 4% deduction where there is one.

    It carries no payment records, fees or anything else about the paying parent beyond what reaches
    the receiving parent. `shortfall_pence` is what remains unreceived on instalments whose due date
    has passed; money paid ahead shows only as a smaller `next_expected`.
    """

    case_id: str
    scheme: Scheme
    as_of: date
    expected_to_date_pence: int
    deductions_to_date_pence: int
    received_pence: int
    shortfall_pence: int
    next_expected: NextReceipt | None
    instalments: tuple[ReceivingInstalment, ...]


# --- fees and rounding ---------------------------------------------------------------------------


def percent_of(amount_pence: int, basis_points: int) -> int:
    """`amount_pence * basis_points / 10_000`, rounded half up to a whole penny, in integer arithmetic.

    floor(x + 1/2) with x = a·b/10⁴ is (2·a·b + 10⁴) // (2·10⁴): exact for any non-negative integers.
    """
    if amount_pence < 0 or basis_points < 0:
        raise ValueError("percent_of takes non-negative amounts and rates")
    return (2 * amount_pence * basis_points + 10_000) // 20_000


def collection_fee(amount_pence: int, scheme: Scheme) -> int:
    """The fee the paying parent pays on top of `amount_pence` of maintenance."""
    return percent_of(amount_pence, COLLECTION_FEE_BASIS_POINTS) if scheme is Scheme.COLLECT_AND_PAY else 0


def collection_deduction(amount_pence: int, scheme: Scheme) -> int:
    """What is kept back from `amount_pence` of maintenance before it reaches the receiving parent."""
    return percent_of(amount_pence, COLLECTION_DEDUCTION_BASIS_POINTS) if scheme is Scheme.COLLECT_AND_PAY else 0


def received_from(instalment: Instalment, paid_pence: int, scheme: Scheme) -> int:
    """What the receiving parent gets when `paid_pence` of an instalment's total has been paid.

    Maintenance is covered before the fee, and the deduction is taken from the maintenance covered.
    """
    maintenance = min(paid_pence, instalment.amount_pence)
    return maintenance - collection_deduction(maintenance, scheme)


# --- schedules and due dates ---------------------------------------------------------------------


def check_amount(amount_pence: int, field: str = "amountPence") -> int:
    if isinstance(amount_pence, bool) or not isinstance(amount_pence, int):
        raise InvalidValue(field, "must be a whole number of pence")
    if not 1 <= amount_pence <= MAX_AMOUNT_PENCE:
        raise InvalidValue(field, f"must be between 1 and {MAX_AMOUNT_PENCE} pence")
    return amount_pence


def check_schedule(schedule: Schedule) -> Schedule:
    check_amount(schedule.amount_pence)
    if schedule.end_date is not None and schedule.end_date < schedule.start_date:
        raise InvalidValue("endDate", "must not be before the start date")
    return schedule


def check_schedules(schedules: Iterable[Schedule]) -> tuple[Schedule, ...]:
    """The schedules ordered by start date; refused if any two overlap or an earlier one is open-ended."""
    ordered = tuple(sorted(schedules, key=lambda s: s.start_date))
    for s in ordered:
        check_schedule(s)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if earlier.end_date is None or earlier.end_date >= later.start_date:
            raise InvalidValue(
                "startDate",
                f"a schedule starting {later.start_date.isoformat()} overlaps the one starting "
                f"{earlier.start_date.isoformat()}",
            )
    return ordered


def end_before(current: Schedule, new_start: date) -> Schedule:
    """`current` ended the day before a new schedule starts on `new_start` (the rule for a change)."""
    if new_start <= current.start_date:
        raise InvalidValue("startDate", "a new schedule must start after the current one starts")
    end = new_start - timedelta(days=1)
    if current.end_date is not None and current.end_date < end:
        return current  # it had already ended: nothing to cut short
    return Schedule(current.id, current.amount_pence, current.frequency, current.start_date, end)


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved on `months` calendar months, its day clamped to the end of a shorter month."""
    years, month0 = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + years, month0 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def due_dates(frequency: Frequency, start: date, end: date | None = None) -> Iterator[date]:
    """Every due date from `start` through `end` inclusive (endless when `end` is None)."""
    monthly = frequency is Frequency.MONTHLY
    step = timedelta(days=0 if monthly else _DAYS[frequency])
    for n in count():
        try:
            due = add_months(start, n) if monthly else start + step * n
        except (OverflowError, ValueError):  # past year 9999
            return
        if end is not None and due > end:
            return
        yield due


def _instalment(schedule: Schedule, due: date, scheme: Scheme) -> Instalment:
    return Instalment(
        due_date=due,
        schedule_id=schedule.id,
        amount_pence=schedule.amount_pence,
        fee_pence=collection_fee(schedule.amount_pence, scheme),
        deduction_pence=collection_deduction(schedule.amount_pence, scheme),
    )


def instalments(schedules: Sequence[Schedule], scheme: Scheme, through: date) -> list[Instalment]:
    """Every instalment due on or before `through`, oldest first."""
    out: list[Instalment] = []
    for s in check_schedules(schedules):
        end = through if s.end_date is None else min(s.end_date, through)
        out.extend(_instalment(s, d, scheme) for d in due_dates(s.frequency, s.start_date, end))
    return out


def instalments_after(schedules: Sequence[Schedule], scheme: Scheme, after: date) -> Iterator[Instalment]:
    """Every instalment due after `after`, oldest first (endless for an open-ended schedule)."""
    for s in check_schedules(schedules):
        for d in due_dates(s.frequency, s.start_date, s.end_date):
            if d > after:
                yield _instalment(s, d, scheme)


# --- allocation and status -----------------------------------------------------------------------


def allocate(amounts_due: Sequence[int], paid_pence: int) -> Allocation:
    """Spread `paid_pence` over `amounts_due` (oldest first), each filled before the next gets any."""
    if paid_pence < 0 or any(a < 0 for a in amounts_due):
        raise ValueError("allocate takes non-negative amounts")
    left = paid_pence
    allocated = []
    for due in amounts_due:
        take = min(due, left)
        allocated.append(take)
        left -= take
    return Allocation(tuple(allocated), left)


def instalment_status(total_pence: int, paid_pence: int, due_date: date, as_of: date) -> InstalmentStatus:
    if paid_pence >= total_pence:
        return InstalmentStatus.PAID
    if paid_pence > 0:
        return InstalmentStatus.PART_PAID
    return InstalmentStatus.MISSED if due_date < as_of else InstalmentStatus.DUE


def payment_date(payment: Payment) -> date:
    """The calendar day a payment counts from: the UTC date of `paid_at`."""
    paid_at = payment.paid_at if payment.paid_at.tzinfo else payment.paid_at.replace(tzinfo=UTC)
    return paid_at.astimezone(UTC).date()


# --- the position --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ledger:
    lines: tuple[tuple[Instalment, int], ...]  # instalments due to date and what each has been paid
    payments: tuple[Payment, ...]  # payments counted, oldest first
    paid_pence: int
    credit_pence: int
    next: tuple[Instalment, int] | None  # the first instalment due today or later not yet covered


def _ledger(case: MaintenanceCase, as_of: date) -> _Ledger:
    payments = tuple(sorted((p for p in case.payments if payment_date(p) <= as_of), key=lambda p: (p.paid_at, p.id)))
    paid = sum(p.amount_pence for p in payments)
    due = instalments(case.schedules, case.scheme, as_of)
    allocation = allocate([i.total_pence for i in due], paid)
    lines = tuple(zip(due, allocation.allocated, strict=True))
    credit = allocation.unallocated_pence

    following: tuple[Instalment, int] | None = None
    if lines and lines[-1][0].due_date == as_of and lines[-1][1] < lines[-1][0].total_pence:
        following = lines[-1]
    else:
        left = credit
        for n, inst in enumerate(instalments_after(case.schedules, case.scheme, as_of)):
            if n >= MAX_LOOKAHEAD:
                break
            covered = min(left, inst.total_pence)
            if covered < inst.total_pence:
                following = (inst, covered)
                break
            left -= covered
    return _Ledger(lines, payments, paid, credit, following)


def _overdue(lines: Iterable[tuple[Instalment, int]], as_of: date) -> list[tuple[Instalment, int]]:
    return [(inst, paid) for inst, paid in lines if inst.due_date < as_of]


def paying_position(case: MaintenanceCase, as_of: date) -> PayingPosition:
    ledger = _ledger(case, as_of)
    due = sum(inst.total_pence for inst, _ in ledger.lines)
    next_payment = None
    if ledger.next is not None:
        inst, covered = ledger.next
        remaining = inst.total_pence - covered
        # Maintenance is covered first, so what remains is the fee first.
        next_payment = NextPayment(inst.due_date, remaining, min(inst.fee_pence, remaining))
    return PayingPosition(
        case_id=case.id,
        scheme=case.scheme,
        as_of=as_of,
        due_to_date_pence=due,
        fees_to_date_pence=sum(inst.fee_pence for inst, _ in ledger.lines),
        paid_pence=ledger.paid_pence,
        outstanding_pence=max(0, due - ledger.paid_pence),
        arrears_pence=sum(inst.total_pence - paid for inst, paid in _overdue(ledger.lines, as_of)),
        credit_pence=ledger.credit_pence,
        next_payment=next_payment,
        instalments=tuple(
            PayingInstalment(
                due_date=inst.due_date,
                amount_pence=inst.amount_pence,
                fee_pence=inst.fee_pence,
                total_pence=inst.total_pence,
                paid_pence=paid,
                status=instalment_status(inst.total_pence, paid, inst.due_date, as_of),
            )
            for inst, paid in ledger.lines
        ),
        recent_payments=tuple(reversed(ledger.payments[-RECENT_PAYMENTS:])),
    )


def receiving_position(case: MaintenanceCase, as_of: date) -> ReceivingPosition:
    ledger = _ledger(case, as_of)
    scheme = case.scheme
    next_expected = None
    if ledger.next is not None:
        inst, covered = ledger.next
        maintenance = min(covered, inst.amount_pence)
        next_expected = NextReceipt(
            due_date=inst.due_date,
            amount_pence=inst.net_pence - received_from(inst, covered, scheme),
            deduction_pence=inst.deduction_pence - collection_deduction(maintenance, scheme),
        )
    return ReceivingPosition(
        case_id=case.id,
        scheme=scheme,
        as_of=as_of,
        expected_to_date_pence=sum(inst.net_pence for inst, _ in ledger.lines),
        deductions_to_date_pence=sum(inst.deduction_pence for inst, _ in ledger.lines),
        received_pence=sum(received_from(inst, paid, scheme) for inst, paid in ledger.lines),
        shortfall_pence=sum(
            inst.net_pence - received_from(inst, paid, scheme) for inst, paid in _overdue(ledger.lines, as_of)
        ),
        next_expected=next_expected,
        instalments=tuple(
            ReceivingInstalment(
                due_date=inst.due_date,
                expected_pence=inst.net_pence,
                deduction_pence=inst.deduction_pence,
                received_pence=received_from(inst, paid, scheme),
                status=instalment_status(inst.total_pence, paid, inst.due_date, as_of),
            )
            for inst, paid in ledger.lines
        ),
    )


def position(case: MaintenanceCase, as_of: date, viewer: Role) -> PayingPosition | ReceivingPosition:
    """The case as `viewer` may see it on `as_of`: each role gets only its own view."""
    if viewer is Role.PAYING:
        return paying_position(case, as_of)
    return receiving_position(case, as_of)
