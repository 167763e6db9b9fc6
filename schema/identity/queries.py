"""The steward review queue and an identity's decision history."""

from __future__ import annotations

import strawberry

from graph.errors import InvalidValue
from graph.linkage import links as repo
from graph.linkage.steward import decisions_for_identity
from schema.context import Info
from schema.identity.types import (
    IdentityCandidate,
    IdentityCandidateConnection,
    IdentityCandidateEdge,
    IdentityDecision,
    parse_queue_cursor,
    queue_cursor,
)
from schema.people.queries import PageInfo

MAX_PAGE = 50


@strawberry.type
class IdentityQuery:
    @strawberry.field(
        description="Pairs the model could not decide alone, for a steward: each with its probability, match "
        "weight, model version and waterfall. Ordered by source and external id."
    )
    async def identity_review_queue(
        self, info: Info, first: int = 20, after: str | None = None, source: str | None = None
    ) -> IdentityCandidateConnection | None:
        if not 1 <= first <= MAX_PAGE:
            raise InvalidValue("first", f"must be between 1 and {MAX_PAGE}")
        page = await repo.review_queue_page(
            info.context.graph, first, parse_queue_cursor(after) if after else None, source
        )
        edges = []
        for c in page.candidates:
            # The external record and its scores are about this person: the read is on their audit trail.
            info.context.reads[c.person_id].add("identityReviewQueue")
            edges.append(IdentityCandidateEdge(cursor=queue_cursor(c), node=IdentityCandidate.from_model(c)))
        return IdentityCandidateConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(description="What stewards decided about one external identity, newest first.")
    async def identity_decisions(self, info: Info, source: str, external_id: str) -> list[IdentityDecision] | None:
        decisions = await decisions_for_identity(info.context.graph, source, external_id)
        for d in decisions:
            for person_id in (d.person_id, d.previous_person_id):
                if person_id:
                    info.context.reads[person_id].add("identityDecisions")
        return [IdentityDecision.from_model(d) for d in decisions]
