"""createPerson / updatePerson: results are unions of the person and typed errors."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated

import strawberry
from strawberry.utils.str_converters import to_camel_case

from graph import person as repo
from graph.errors import DuplicateNino, InvalidValue, NotFound, VersionConflict
from graph.models import NewPerson, PersonChanges
from schema.context import Info
from schema.errors import InvalidInput, NinoTaken, NotFoundError, VersionConflictError, user_error
from schema.events import Event, EventKind, publish
from schema.people.queries import parse_person_id
from schema.people.types import Person, PersonStatus


@strawberry.input
class CreatePersonInput:
    given_name: str
    family_name: str
    nino: str
    date_of_birth: date | None = None


@strawberry.input(description="Fields left out (or null) are unchanged. `version` is the one you read.")
class UpdatePersonInput:
    id: strawberry.ID
    version: int
    given_name: str | None = None
    family_name: str | None = None
    nino: str | None = None
    date_of_birth: date | None = None
    status: PersonStatus | None = None  # type: ignore[valid-type]


CreatePersonResult = Annotated[Person | InvalidInput | NinoTaken, strawberry.union("CreatePersonResult")]
UpdatePersonResult = Annotated[
    Person | InvalidInput | NotFoundError | VersionConflictError | NinoTaken, strawberry.union("UpdatePersonResult")
]


@strawberry.type
class PeopleMutation:
    @strawberry.mutation
    async def create_person(self, info: Info, input: CreatePersonInput) -> CreatePersonResult | None:
        new = NewPerson(
            given_name=input.given_name,
            family_name=input.family_name,
            nino=input.nino,
            date_of_birth=input.date_of_birth,
        )
        try:
            created = await repo.create_person(info.context.graph, new)
        except (InvalidValue, DuplicateNino) as exc:
            return user_error(exc)  # type: ignore[return-value]
        return Person.from_model(created)

    @strawberry.mutation
    async def update_person(self, info: Info, input: UpdatePersonInput) -> UpdatePersonResult | None:
        changes = PersonChanges(
            given_name=input.given_name,
            family_name=input.family_name,
            nino=input.nino,
            date_of_birth=input.date_of_birth,
            status=input.status,
        )
        try:
            person_id = parse_person_id(input.id)
            updated = await repo.update_person(info.context.graph, person_id, input.version, changes)
        except (InvalidValue, NotFound, VersionConflict, DuplicateNino) as exc:
            return user_error(exc)
        info.context.loaders.person.prime(person_id, updated, force=True)
        changed = [to_camel_case(f.name) for f in dataclasses.fields(changes) if getattr(changes, f.name) is not None]
        await publish(info.context.events, Event(EventKind.PROFILE_CHANGED, (person_id,), data={"fields": changed}))
        return Person.from_model(updated)
