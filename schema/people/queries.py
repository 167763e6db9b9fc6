"""Person lookups and the keyset-paginated people search."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import date

import orjson
import strawberry

from graph import person as repo
from graph.errors import InvalidValue
from graph.models import PersonFilter
from graph.nino import normalise_nino
from graph.views import TreeKey
from schema.context import Info
from schema.people.lookahead import prime, root_shape
from schema.people.types import Person

DEFAULT_PAGE = 20


def parse_person_id(value: str, field: str = "id") -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidValue(field, f"{value!r} is not a person id (a UUID)") from None


def encode_cursor(key: tuple[str, str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidValue("after", "not a cursor returned by this API") from None
    if not (isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key)):
        raise InvalidValue("after", "not a cursor returned by this API")
    return key[0], key[1], key[2]


@strawberry.input(description="Search filter: at least one of nino, postcode, dateOfBirth or familyName.")
class PersonFilterInput:
    nino: str | None = None
    family_name: str | None = strawberry.field(default=None, description="Prefix, case- and accent-insensitive.")
    given_name: str | None = strawberry.field(default=None, description="Prefix; narrows another filter.")
    date_of_birth: date | None = None
    postcode: str | None = strawberry.field(default=None, description="People currently living at this postcode.")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class PersonEdge:
    cursor: str
    node: Person


@strawberry.type
class PersonConnection:
    edges: list[PersonEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Person]:
        return [e.node for e in self.edges]


async def _lookup(info: Info, key: str, kind: TreeKey) -> Person | None:
    """A person by id or NINO; with the households the selection reads fetched in the same statement
    (`schema.people.lookahead`) when it reads any, else through the plain person loaders."""
    shape = root_shape(info)
    loaders = info.context.loaders
    if shape is not None:
        tree = await loaders.tree(shape, kind).load(key)
        if tree is None:
            return None
        prime(info, tree)
        return Person.from_model(tree.person)
    found = await (loaders.person if kind == "id" else loaders.person_by_nino).load(key)
    return Person.from_model(found) if found else None


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="Your own record (citizens signed in with an identity linked to a person).")
    async def me(self, info: Info) -> Person | None:
        principal = info.context.principal
        if principal is None or principal.person_id is None:
            return None
        return await _lookup(info, principal.person_id, "id")

    @strawberry.field(description="A person by hub id (UUID).")
    async def person(self, info: Info, id: strawberry.ID) -> Person | None:
        return await _lookup(info, parse_person_id(id), "id")

    @strawberry.field(description="A person by National Insurance number (any spacing or case).")
    async def person_by_nino(self, info: Info, nino: str) -> Person | None:
        return await _lookup(info, normalise_nino(nino), "nino")

    @strawberry.field(description="Search people; ordered by family name, given name, id.")
    async def people(
        self, info: Info, filter: PersonFilterInput, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> PersonConnection | None:
        f = PersonFilter(
            nino=filter.nino,
            family_name=filter.family_name,
            given_name=filter.given_name,
            date_of_birth=filter.date_of_birth,
            postcode=filter.postcode,
        )
        page = await repo.search_people(info.context.graph, f, first, decode_cursor(after) if after else None)
        edges = [
            PersonEdge(cursor=encode_cursor(key), node=Person.from_model(p))
            for p, key in zip(page.items, page.cursors, strict=True)
        ]
        for p in page.items:
            info.context.loaders.person.prime(p.id, p)
        shape = root_shape(info, connection=True)
        if shape is not None and page.items:
            # The page's households, and those nested below them, in one more statement.
            for tree in await info.context.loaders.tree(shape).load_many([p.id for p in page.items]):
                if tree is not None:
                    prime(info, tree)
        return PersonConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None),
        )
