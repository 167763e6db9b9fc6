"""Plain typed data returned by repositories (schema maps it to GraphQL)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class PersonStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DECEASED = "DECEASED"


class RelationshipKind(StrEnum):
    """Household relationships a caller may create; each maps to one fixed relationship type."""

    PARENT_OF = "PARENT_OF"
    PARTNER_OF = "PARTNER_OF"
    CARES_FOR = "CARES_FOR"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    nino: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    status: PersonStatus
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Address:
    id: str
    line1: str
    line2: str | None
    town: str
    postcode: str


@dataclass(frozen=True, slots=True)
class Residence:
    """An address and the period a person lived there (`to` is None while they still do)."""

    address: Address
    from_date: date | None
    to_date: date | None


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    type: str
    status: str
    start_date: date | None
    amount_pence: int


@dataclass(frozen=True, slots=True)
class Care:
    """`person` is cared for by the carer for `hours_per_week`."""

    person: Person
    hours_per_week: int


@dataclass(frozen=True, slots=True)
class NewPerson:
    given_name: str
    family_name: str
    nino: str
    date_of_birth: date | None = None
    status: PersonStatus = PersonStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class PersonChanges:
    """Fields to change; `None` means "leave as is"."""

    given_name: str | None = None
    family_name: str | None = None
    nino: str | None = None
    date_of_birth: date | None = None
    status: PersonStatus | None = None


@dataclass(frozen=True, slots=True)
class PersonFilter:
    """Search filter. At least one indexed anchor (nino, postcode, date of birth, family name) is required."""

    nino: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Person]
    has_next: bool
    cursors: list[tuple[str, str, str]] = field(default_factory=list)


def name_key(name: str) -> str:
    """Case- and accent-insensitive search key: 'Ó Súilleabháin' -> 'O SUILLEABHAIN'."""
    if name.isascii():  # nothing to decompose (the common case; bulk imports call this per name)
        return " ".join(name.split()).upper()
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split()).upper()


def full_name_key(given_key: str, family_key: str) -> str:
    """One indexed key for a whole name (issue 12's blocking): the embedded server does not serve equality
    on both properties of a composite index, so the full-name rule reads this single property instead."""
    return f"{family_key}|{given_key}"


def to_native(value: Any) -> Any:
    """neo4j temporal values -> datetime/date (other values unchanged)."""
    native = getattr(value, "to_native", None)
    return native() if native is not None else value


def to_utc(value: Any) -> datetime:
    """A stored instant as an aware UTC datetime.

    The hub writes instants in UTC; ArcadeDB hands some back without their zone (a local date-time),
    Neo4j with it. Either way the caller gets the same aware value.
    """
    dt = to_native(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
