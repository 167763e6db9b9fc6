"""Subject access export through GraphQL: a citizen's own, or anyone's for a grant that allows it."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from graph.export import subject_access
from schema.context import Info
from schema.people.queries import parse_person_id
from schema.permissions import forbidden


@strawberry.type
class ExportQuery:
    @strawberry.field(
        description="Everything held about a person as one JSON document (UK GDPR Art. 15). "
        "Without personId: your own record."
    )
    async def subject_access_export(self, info: Info, person_id: strawberry.ID | None = None) -> JSON | None:
        ctx = info.context
        own = ctx.principal.person_id if ctx.principal else None
        target = parse_person_id(person_id, "personId") if person_id else own
        if target is None:
            return None
        if target != own and not ctx.access.any_person:
            raise forbidden("exporting another person's record")
        document = await subject_access(ctx.graph, target)
        if ctx.connectors is not None:
            document["connectorData"] = await ctx.connectors.held_about(target, document["person"].get("nino"))
        ctx.reads[target].add("subjectAccessExport")
        return document  # type: ignore[no-any-return]
