"""linkRelationship: parent/child, partner, cares-for between two existing people."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph import household as repo
from graph.errors import InvalidValue, NotFound
from graph.models import RelationshipKind as _Kind
from schema.context import Info
from schema.errors import InvalidInput, NotFoundError, user_error
from schema.people.queries import parse_person_id
from schema.people.types import Person

RelationshipKind = strawberry.enum(_Kind, name="RelationshipKind")


@strawberry.input(description="`from` is the parent / carer; PARTNER_OF is symmetric.")
class LinkRelationshipInput:
    kind: RelationshipKind  # type: ignore[valid-type]
    from_id: strawberry.ID
    to_id: strawberry.ID
    hours_per_week: int | None = strawberry.field(default=None, description="Required for CARES_FOR (1-168).")


@strawberry.type
class LinkRelationshipSuccess:
    kind: RelationshipKind  # type: ignore[valid-type]
    from_: Person = strawberry.field(name="from")
    to: Person


LinkRelationshipResult = Annotated[
    LinkRelationshipSuccess | InvalidInput | NotFoundError, strawberry.union("LinkRelationshipResult")
]


@strawberry.type
class HouseholdMutation:
    @strawberry.mutation
    async def link_relationship(self, info: Info, input: LinkRelationshipInput) -> LinkRelationshipResult | None:
        try:
            from_id = parse_person_id(input.from_id, "fromId")
            to_id = parse_person_id(input.to_id, "toId")
            a, b = await repo.link(info.context.graph, input.kind, from_id, to_id, input.hours_per_week)
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        # clear_all, not clear: Strawberry's clear() raises KeyError for a key never loaded.
        info.context.loaders.household.clear_all()
        return LinkRelationshipSuccess(kind=input.kind, from_=Person.from_model(a), to=Person.from_model(b))
