"""`caseload`: live aggregate figures, each field behind its own grant (config/policies.yaml).

Aggregates carry no one's personal data, so reading them is not a read of a person (nothing to audit per
person); who may see which figure is still default deny. Every figure is computed from the graph when asked
(`graph.analytics`, one statement each), never from a report built earlier.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import strawberry

from graph import analytics as repo
from graph.errors import InvalidValue
from schema.context import Info
from schema.scalars import Long

MAX_PERIOD_DAYS = 3_660  # ten years of instalments: longer periods are refused, not slowly answered


@strawberry.type(description="Instalments due in a period and how many were paid in full by their due date.")
class OnTimePaymentRate:
    start: date = strawberry.field(name="from")
    end: date = strawberry.field(name="to", description="The last day counted: `to`, or yesterday if sooner.")
    instalments_due: int
    paid_on_time: int
    rate: float | None = strawberry.field(description="paidOnTime / instalmentsDue; null when none were due.")


@strawberry.type
class ClaimCount:
    type: str
    status: str
    count: int


@strawberry.type(description="Live caseload figures across every child-maintenance case (and every claim).")
class Caseload:
    _arrears: strawberry.Private[dict[date, repo.Arrears]]

    async def _arrears_on(self, info: Info, as_of: date | None) -> repo.Arrears:
        day = as_of or datetime.now(UTC).date()
        if day not in self._arrears:  # the count and the total come from one statement
            self._arrears[day] = await repo.arrears(info.context.graph, day)
        return self._arrears[day]

    @strawberry.field(description="Cases with money unpaid past its due date on `asOf` (default today).")
    async def cases_in_arrears(self, info: Info, as_of: date | None = None) -> int | None:
        return (await self._arrears_on(info, as_of)).cases_in_arrears

    @strawberry.field(description="Everything unpaid past its due date on `asOf` (default today), fees included.")
    async def arrears_total_pence(self, info: Info, as_of: date | None = None) -> Long | None:
        return (await self._arrears_on(info, as_of)).arrears_pence

    @strawberry.field(description="Share of instalments due from `from` to `to` paid in full by their due date.")
    async def on_time_payment_rate(
        self,
        info: Info,
        start: Annotated[date, strawberry.argument(name="from")],
        end: Annotated[date, strawberry.argument(name="to")],
    ) -> OnTimePaymentRate | None:
        repo.check_day(start, "from")
        repo.check_day(end, "to")
        if end < start:
            raise InvalidValue("to", "must not be before `from`")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise InvalidValue("to", f"a period is at most {MAX_PERIOD_DAYS} days")
        # An instalment due today can still be paid on time: only days that have passed are counted.
        last = min(end, datetime.now(UTC).date() - timedelta(days=1))
        if last < start:
            return OnTimePaymentRate(start=start, end=last, instalments_due=0, paid_on_time=0, rate=None)
        got = await repo.on_time(info.context.graph, start, last)
        return OnTimePaymentRate(
            start=start, end=last, instalments_due=got.due, paid_on_time=got.on_time, rate=got.rate
        )

    @strawberry.field(description="How many claims there are of each type in each status.")
    async def claims_by_type_and_status(self, info: Info) -> list[ClaimCount] | None:
        return [
            ClaimCount(type=c.type, status=c.status, count=c.count)
            for c in await repo.claims_by_type_and_status(info.context.graph)
        ]


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="Live caseload and compliance figures; each needs its own grant.")
    def caseload(self) -> Caseload | None:
        return Caseload(_arrears={})
