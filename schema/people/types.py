"""The Person type and its household edges, each resolved through a per-request DataLoader.

`Person` is also the hub's Apollo Federation entity, keyed by `id` and by `nino` (a partner department
usually knows a person by National Insurance number). Its fields are not `@shareable`: the hub is the
system of record, so composition rejects a subgraph that tries to resolve them too.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph import models
from graph.errors import InvalidValue
from graph.household import EMPTY_HOUSEHOLD, Household
from graph.nino import normalise_nino
from schema.audit.types import AccessEntry
from schema.connectors.types import ConsentRecord
from schema.context import Info
from schema.household.types import Address, Claim, Residence

if TYPE_CHECKING:
    from schema.identity.types import IdentityLink
    from schema.maintenance.types import MaintenanceCase

PersonStatus = strawberry.enum(models.PersonStatus, name="PersonStatus")


# Record-keeping rather than facts about the person: an Apollo contract for partners can leave these out
# (`@tag(name: "internal")`). Not `@inaccessible`: the department's own apps need `version` for updatePerson.
INTERNAL = ["internal"]


@strawberry.federation.type(
    keys=["id", "nino"],
    description="A person in the core citizen record. Fields the caller's policy does not allow are null "
    "with a FORBIDDEN error.",
)
class Person:
    id: strawberry.ID
    nino: str | None = strawberry.field(description="National Insurance number, normalised (e.g. AB123456C).")
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    status: PersonStatus | None  # type: ignore[valid-type]
    created_at: datetime | None = strawberry.federation.field(tags=INTERNAL)
    updated_at: datetime | None = strawberry.federation.field(tags=INTERNAL)
    version: int | None = strawberry.federation.field(
        description="Optimistic-concurrency version: pass it back to updatePerson.", tags=INTERNAL
    )

    @classmethod
    async def resolve_reference(cls, info: Info, id: object = None, nino: object = None, **_: object) -> Person | None:
        """An entity representation from a gateway, by `id` or by `nino`.

        Strawberry calls this once per representation; going through the request's DataLoaders turns a
        whole `_entities` call into one lookup per key kind. A malformed key is treated like an unknown
        one: null, no error, so nothing of the hub's validation reaches the caller.
        """
        loaders = info.context.loaders
        found: models.Person | None = None
        if isinstance(id, str):
            key = _person_id(id)
            found = await loaders.person.load(key) if key else None
        elif isinstance(nino, str):
            key = _nino(nino)
            found = await loaders.person_by_nino.load(key) if key else None
        return cls.from_model(found) if found else None

    @classmethod
    def from_model(cls, p: models.Person) -> Person:
        return cls(
            id=strawberry.ID(p.id),
            nino=p.nino,
            given_name=p.given_name,
            family_name=p.family_name,
            date_of_birth=p.date_of_birth,
            status=p.status,
            created_at=p.created_at,
            updated_at=p.updated_at,
            version=p.version,
        )

    @strawberry.field
    async def parents(self, info: Info) -> list[Person] | None:
        return [Person.from_model(p) for p in (await _household(info, self.id)).parents]

    @strawberry.field
    async def children(self, info: Info) -> list[Person] | None:
        return [Person.from_model(p) for p in (await _household(info, self.id)).children]

    @strawberry.field(description="The person's partner, if the record holds one.")
    async def partner(self, info: Info) -> Person | None:
        partners = (await _household(info, self.id)).partners
        return Person.from_model(partners[0]) if partners else None

    @strawberry.field(description="People this person cares for, with hours of care per week.")
    async def cares_for(self, info: Info) -> list[Care] | None:
        cares = (await _household(info, self.id)).cares
        return [Care(person=Person.from_model(c.person), hours_per_week=c.hours_per_week) for c in cares]

    @strawberry.field(description="Current address.")
    async def address(self, info: Info) -> Address | None:
        for r in (await _household(info, self.id)).residences:
            if r.to_date is None:
                return Address.from_model(r.address)
        return None

    @strawberry.field(description="Every address on record, current first, then newest first.")
    async def address_history(self, info: Info) -> list[Residence] | None:
        return [Residence.from_model(r) for r in (await _household(info, self.id)).residences]

    @strawberry.field
    async def claims(self, info: Info) -> list[Claim] | None:
        return [Claim.from_model(c) for c in (await _household(info, self.id)).claims]

    @strawberry.field(description="Who read this record, newest first (your own reads are left out of yours).")
    async def access_log(self, info: Info) -> list[AccessEntry] | None:
        entries = await info.context.loaders.access_log.load(self.id)
        principal = info.context.principal
        if principal is not None and principal.person_id == self.id:
            entries = [e for e in entries if e.actor != principal.subject]
        return [AccessEntry.from_model(e) for e in entries]

    @strawberry.field(description="Consents this person gave connectors, newest first (withdrawn ones too).")
    async def consents(self, info: Info) -> list[ConsentRecord] | None:
        return [ConsentRecord.from_model(c) for c in await info.context.loaders.consents.load(self.id)]

    @strawberry.field(description="Child-maintenance cases this person is the paying or receiving parent in.")
    async def maintenance_cases(
        self, info: Info
    ) -> list[Annotated[MaintenanceCase, strawberry.lazy("schema.maintenance.types")]] | None:
        from schema.maintenance.types import cases_view  # the maintenance types build on Person

        return cases_view(info.context, await info.context.loaders.maintenance_cases.load(self.id))

    # issue 12: identity resolution
    @strawberry.field(description="External identities linked to this person, each with what linked it and why.")
    async def links(self, info: Info) -> list[Annotated[IdentityLink, strawberry.lazy("schema.identity.types")]] | None:
        from schema.identity.types import links_view  # the identity types build on Person

        return links_view(await info.context.loaders.identity_links.load(self.id))


async def _household(info: Info, person_id: str) -> Household:
    """The person's whole household, loaded once per request for every household field (one round trip
    per level of nesting, not one per field)."""
    return await info.context.loaders.household.load(person_id) or EMPTY_HOUSEHOLD


@strawberry.type
class Care:
    person: Person | None
    hours_per_week: int | None


def _person_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _nino(value: str) -> str | None:
    try:
        return normalise_nino(value)
    except InvalidValue:
        return None
