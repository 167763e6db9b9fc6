"""Auditor queries across people."""

from __future__ import annotations

import strawberry

from graph import audit
from graph.errors import InvalidValue
from schema.audit.types import AccessEntry
from schema.context import Info


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Reads made by one actor (subject), newest first. Auditors only.")
    async def access_events(self, info: Info, actor: str, first: int = 50) -> list[AccessEntry] | None:
        if not 1 <= first <= 500:
            raise InvalidValue("first", "must be between 1 and 500")
        return [AccessEntry.from_model(e) for e in await audit.events_by_actor(info.context.graph, actor, first)]
