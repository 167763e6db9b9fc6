"""Root lookups of child-maintenance cases."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.maintenance.types import MaintenanceCase, is_party, parse_case_id


@strawberry.type
class MaintenanceQuery:
    @strawberry.field(description="A case by id; null when unknown, or not one of yours (citizens).")
    async def maintenance_case(self, info: Info, id: strawberry.ID) -> MaintenanceCase | None:
        found = await info.context.loaders.maintenance_case.load(parse_case_id(id))
        # Unknown and not-yours look the same: a citizen learns nothing about other people's cases.
        return MaintenanceCase.from_model(found) if found and is_party(info.context, found) else None
