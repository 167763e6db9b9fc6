"""Embedded analytics: caseload and compliance figures computed live in the graph, one statement each.

The child-maintenance maths of `graph.money` is restated in Cypher so that the aggregate runs where the
data is (no case is shipped to Python):

- instalments of a schedule due on or before a day `L`: none if `L` is before the start; weekly,
  fortnightly, four-weekly: `days(start, L) / period + 1`; monthly: the whole months from the start's
  month to `L`'s, plus one if `start + months` (clamped to a shorter month's end, as `add_months`) is on
  or before `L`;
- an instalment's total is the amount plus, under Collect & Pay, the 20% fee rounded half up
  (`(2·a·2000 + 10000) / 20000`, integer division, as `percent_of`);
- payments count from the UTC date they were paid and are allocated oldest instalment first, so a case's
  arrears on `as_of` is `max(0, owed on instalments due before as_of - paid on or before as_of)`;
- an instalment was paid on time when everything paid by its due date covers every instalment of the
  case due through that date.

Each statement reads every case once (a label scan, then each case's own schedules and payments): linear
in the caseload, one round trip. Tests compare every figure with `graph.money` case by case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from graph.driver import Graph, Tx
from graph.errors import InvalidValue
from graph.money import COLLECTION_FEE_BASIS_POINTS, Frequency, Scheme

_PERIODS = " ".join(
    f"WHEN '{f.value}' THEN {days}"
    for f, days in ((Frequency.WEEKLY, 7), (Frequency.FORTNIGHTLY, 14), (Frequency.FOUR_WEEKLY, 28))
)
_FEE = COLLECTION_FEE_BASIS_POINTS
# Days outside these are typing errors, refused before any date arithmetic can overflow.
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)


def check_day(day: date, field: str) -> date:
    if not EARLIEST <= day <= LATEST:
        raise InvalidValue(field, f"must be between {EARLIEST} and {LATEST}")
    return day


def _last(s: str, through: str) -> str:
    """The last day of schedule `s` that counts: `through`, or its end date if that is earlier."""
    return f"(CASE WHEN {s}.endDate IS NOT NULL AND {s}.endDate < {through} THEN {s}.endDate ELSE {through} END)"


def _count(s: str, through: str) -> str:
    """Cypher: how many instalments of schedule map `s` fall due on or before the date `through`."""
    last = _last(s, through)
    months = f"(({last}.year * 12 + {last}.month) - ({s}.startDate.year * 12 + {s}.startDate.month))"
    return (
        f"(CASE WHEN {last} < {s}.startDate THEN 0 "
        f"WHEN {s}.frequency = '{Frequency.MONTHLY.value}' THEN {months} + "
        f"CASE WHEN {s}.startDate + duration({{months: {months}}}) <= {last} THEN 1 ELSE 0 END "
        f"ELSE duration.inDays({s}.startDate, {last}).days / CASE {s}.frequency {_PERIODS} END + 1 END)"
    )


def _due_date(s: str, n: str) -> str:
    """Cypher: the `n`th (from 0) due date of schedule map `s`."""
    return (
        f"(CASE WHEN {s}.frequency = '{Frequency.MONTHLY.value}' THEN {s}.startDate + duration({{months: {n}}}) "
        f"ELSE {s}.startDate + duration({{days: {n} * CASE {s}.frequency {_PERIODS} END}}) END)"
    )


def _owed(schedules: str, through: str) -> str:
    """Cypher: the total of every instalment due on or before `through` over a list of schedule maps."""
    return f"reduce(t = 0, x IN {schedules} | t + {_count('x', through)} * x.total)"


# Each case with its schedules (as maps carrying the instalment total) and its payments (day, amount).
_CASES = (
    "MATCH (c:MaintenanceCase) WHERE $ids IS NULL OR c.id IN $ids "
    "WITH c, CASE WHEN c.scheme = '" + Scheme.COLLECT_AND_PAY.value + "' THEN 1 ELSE 0 END AS charged "
    "WITH c, [(c)-[:HAS_SCHEDULE]->(s:Schedule) | s {.frequency, .startDate, .endDate, "
    f"total: s.amountPence + charged * ((2 * s.amountPence * {_FEE} + 10000) / 20000)}}] AS ss, "
    "[(c)<-[:FOR_CASE]-(y:Payment) | {day: date(y.paidAt), amount: y.amountPence}] AS ps "
)

_ARREARS = (
    _CASES + f"WITH c, {_owed('ss', '$before')} AS owed, "
    "reduce(t = 0, p IN ps | t + CASE WHEN p.day <= $asOf THEN p.amount ELSE 0 END) AS paid "
    "WITH c, CASE WHEN owed > paid THEN owed - paid ELSE 0 END AS arrears "
    "RETURN count(c) AS cases, sum(CASE WHEN arrears > 0 THEN 1 ELSE 0 END) AS inArrears, "
    "sum(arrears) AS arrearsPence"
)

_ON_TIME = (
    _CASES + "UNWIND ss AS s "
    f"UNWIND range(0, {_count('s', '$until')} - 1) AS n "
    f"WITH ss, ps, {_due_date('s', 'n')} AS due WHERE due >= $from "
    f"WITH {_owed('ss', 'due')} AS owed, "
    "reduce(t = 0, p IN ps | t + CASE WHEN p.day <= due THEN p.amount ELSE 0 END) AS paid "
    "RETURN count(*) AS due, sum(CASE WHEN paid >= owed THEN 1 ELSE 0 END) AS onTime"
)

_CLAIMS = "MATCH (c:Claim) RETURN c.type AS type, c.status AS status, count(*) AS n ORDER BY type, status"


@dataclass(frozen=True, slots=True)
class Arrears:
    as_of: date
    cases: int
    cases_in_arrears: int
    arrears_pence: int


@dataclass(frozen=True, slots=True)
class OnTime:
    """Instalments due from `start` to `end` (both inclusive): how many, and how many were paid in full by
    their due date. `rate` is None when none were due."""

    start: date
    end: date
    due: int
    on_time: int

    @property
    def rate(self) -> float | None:
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True, slots=True)
class ClaimCount:
    type: str
    status: str
    count: int


def _ids(case_ids: Sequence[str] | None) -> list[str] | None:
    return None if case_ids is None else list(case_ids)


async def arrears(graph: Graph, as_of: date, case_ids: Sequence[str] | None = None) -> Arrears:
    """Cases, cases in arrears and the arrears total on `as_of` (over `case_ids`, or every case)."""

    check_day(as_of, "asOf")

    async def work(tx: Tx) -> Arrears:
        row = await tx.fetch_one(
            _ARREARS, {"ids": _ids(case_ids), "asOf": as_of, "before": date.fromordinal(as_of.toordinal() - 1)}
        )
        r: dict[str, Any] = row or {}
        return Arrears(as_of, int(r.get("cases") or 0), int(r.get("inArrears") or 0), int(r.get("arrearsPence") or 0))

    return await graph.read(work)


async def on_time(graph: Graph, start: date, end: date, case_ids: Sequence[str] | None = None) -> OnTime:
    """Instalments due from `start` through `end` and how many were paid in full by their due date.

    The caller passes an `end` that has passed: an instalment due today can still be paid on time.
    """
    check_day(start, "from")
    check_day(end, "to")
    if end < start:
        raise InvalidValue("to", "must not be before `from`")

    async def work(tx: Tx) -> OnTime:
        row = await tx.fetch_one(_ON_TIME, {"ids": _ids(case_ids), "from": start, "until": end})
        r: dict[str, Any] = row or {}
        return OnTime(start, end, int(r.get("due") or 0), int(r.get("onTime") or 0))

    return await graph.read(work)


async def claims_by_type_and_status(graph: Graph) -> list[ClaimCount]:
    async def work(tx: Tx) -> list[ClaimCount]:
        return [ClaimCount(r["type"], r["status"], int(r["n"])) for r in await tx.fetch(_CLAIMS)]

    return await graph.read(work)
