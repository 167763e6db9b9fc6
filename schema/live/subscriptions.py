"""personEvents: typed events about one person, live, optionally replayed from a stream position first."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

import strawberry

from graph.errors import InvalidValue
from schema.context import Info
from schema.live.audit import audit_emission
from schema.live.types import PersonEvent, person_event
from schema.maintenance.subscriptions import live_bus
from schema.people.queries import parse_person_id
from schema.permissions import check, forbidden

POSITION = re.compile(r"^\d{1,20}-\d{1,20}$")


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Events about a person as they happen (yours, for a citizen). With `after` (an event's "
        "`position`), first replays what happened since then."
    )
    async def person_events(
        self, info: Info, person_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[PersonEvent | None, None]:
        ctx = info.context
        check(ctx, "Subscription", "personEvents", None)
        pid = parse_person_id(person_id, "personId")
        principal = ctx.principal
        if ctx.access.self_only and (principal is None or principal.person_id != pid):
            raise forbidden("events of another person")
        if after is not None and not POSITION.match(after):
            raise InvalidValue("after", "not a position this API returned")
        live_bus(ctx)
        assert ctx.events is not None
        async with ctx.events.listen(f"person:{pid}", after) as events:
            async for event in events:
                typed = person_event(event, pid)
                if typed is not None:
                    await audit_emission(ctx, [pid], "personEvents")
                    yield typed
