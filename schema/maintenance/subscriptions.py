"""financialPosition: the viewer's position on a case now, then again each time a payment or schedule lands.

Runs over a long-lived WebSocket, so it never uses the connection's DataLoaders (their cache would go
stale): each emission reads the case afresh from the graph.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph import maintenance as repo
from graph.errors import NotFound
from schema.context import Context, Info
from schema.errors import HubError
from schema.events import EventKind
from schema.live.audit import audit_emission
from schema.maintenance.types import (
    CaseRole,
    FinancialPosition,
    is_party,
    parse_case_id,
    parties_of,
    position_view,
    today,
    viewer_role,
)
from schema.permissions import check

MOVES_POSITION = frozenset({EventKind.PAYMENT_RECEIVED, EventKind.SCHEDULE_CHANGED})


def live_bus(ctx: Context) -> object:
    if ctx.events is None:
        raise HubError("Live events are unavailable", "EVENTS_UNAVAILABLE")
    return ctx.events


@strawberry.type
class MaintenanceSubscription:
    @strawberry.subscription(
        description="Your view of a case's financial position: now, then after every payment or schedule change."
    )
    async def financial_position(
        self,
        info: Info,
        case_id: strawberry.ID,
        view_as: CaseRole | None = None,  # type: ignore[valid-type]
    ) -> AsyncGenerator[FinancialPosition | None, None]:
        ctx = info.context
        check(ctx, "Subscription", "financialPosition", None)
        live_bus(ctx)
        assert ctx.events is not None
        key = parse_case_id(case_id, "caseId")
        try:
            case = await repo.get_case(ctx.graph, key)
        except NotFound:
            raise HubError(f"MaintenanceCase {key} not found", "NOT_FOUND") from None
        if not is_party(ctx, case):
            raise HubError(f"MaintenanceCase {key} not found", "NOT_FOUND")
        role = viewer_role(ctx, case, view_as)
        async with ctx.events.listen(f"case:{key}") as events:
            await audit_emission(ctx, parties_of(case), "financialPosition")
            yield position_view(case, today(), role)
            async for event in events:
                if event.kind in MOVES_POSITION:
                    case = await repo.get_case(ctx.graph, key)
                    await audit_emission(ctx, parties_of(case), "financialPosition")
                    yield position_view(case, today(), role)
