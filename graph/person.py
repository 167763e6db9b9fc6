"""Person repository: create, optimistic update, lookups by id / NINO, keyset search."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from neo4j.exceptions import ConstraintError

from graph.driver import Graph, Tx
from graph.errors import DuplicateNino, InvalidValue, NotFound, VersionConflict
from graph.models import (
    NewPerson,
    Page,
    Person,
    PersonChanges,
    PersonFilter,
    PersonStatus,
    full_name_key,
    name_key,
    to_native,
    to_utc,
)
from graph.nino import normalise_nino
from graph.validation import check_birth_date, clean_name, normalise_postcode

MAX_PAGE = 100

# Properties returned for a person everywhere; one projection so every query maps the same way.
PERSON_PROJECTION = "{.id, .nino, .givenName, .familyName, .dateOfBirth, .status, .createdAt, .updatedAt, .version}"


def person_from_row(row: dict[str, Any]) -> Person:
    return Person(
        id=row["id"],
        nino=row["nino"],
        given_name=row["givenName"],
        family_name=row["familyName"],
        date_of_birth=to_native(row.get("dateOfBirth")),
        status=PersonStatus(row.get("status") or "ACTIVE"),
        created_at=to_utc(row["createdAt"]),
        updated_at=to_utc(row["updatedAt"]),
        version=row.get("version") or 0,
    )


def _person_props(given: str, family: str) -> dict[str, str]:
    return {
        "givenName": given,
        "familyName": family,
        "givenNameKey": name_key(given),
        "familyNameKey": name_key(family),
        "fullNameKey": full_name_key(name_key(given), name_key(family)),
    }


def validate_new_person(new: NewPerson) -> NewPerson:
    return replace(
        new,
        given_name=clean_name(new.given_name, "givenName"),
        family_name=clean_name(new.family_name, "familyName"),
        nino=normalise_nino(new.nino),
        date_of_birth=check_birth_date(new.date_of_birth) if new.date_of_birth else None,
    )


async def create_person(graph: Graph, new: NewPerson) -> Person:
    new = validate_new_person(new)
    now = datetime.now(UTC)
    props: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "nino": new.nino,
        "dateOfBirth": new.date_of_birth,
        "status": new.status.value,
        "createdAt": now,
        "updatedAt": now,
        "version": 1,
        **_person_props(new.given_name, new.family_name),
    }

    async def work(tx: Tx) -> Person:
        row = await tx.fetch_one(
            f"CREATE (p:Person) SET p = $props RETURN p {PERSON_PROJECTION} AS p", {"props": props}
        )
        assert row is not None
        return person_from_row(row["p"])

    try:
        return await graph.write(work)
    except ConstraintError as exc:
        raise DuplicateNino(new.nino) from exc


async def update_person(graph: Graph, person_id: str, expected_version: int, changes: PersonChanges) -> Person:
    """Apply `changes` if the stored version is `expected_version`.

    Write first, then check (shared PLATFORM.md): bumping the version before comparing makes the
    row lock decide the race, so exactly one of two concurrent writers with the same version wins.
    """
    props: dict[str, Any] = {}
    if changes.given_name is not None:
        given = clean_name(changes.given_name, "givenName")
        props.update(givenName=given, givenNameKey=name_key(given))
    if changes.family_name is not None:
        family = clean_name(changes.family_name, "familyName")
        props.update(familyName=family, familyNameKey=name_key(family))
    if changes.nino is not None:
        props["nino"] = normalise_nino(changes.nino)
    if changes.date_of_birth is not None:
        props["dateOfBirth"] = check_birth_date(changes.date_of_birth)
    if changes.status is not None:
        props["status"] = changes.status.value
    props["updatedAt"] = datetime.now(UTC)

    async def work(tx: Tx) -> Person:
        row = await tx.fetch_one(
            "MATCH (p:Person {id: $id}) SET p.version = p.version + 1 "
            "WITH p WHERE p.version = $expected + 1 "
            "SET p += $props SET p.fullNameKey = p.familyNameKey + '|' + p.givenNameKey "
            f"RETURN p {PERSON_PROJECTION} AS p",
            {"id": person_id, "expected": expected_version, "props": props},
        )
        if row is not None:
            return person_from_row(row["p"])
        # Raising inside the transaction function rolls the version bump back.
        current = await tx.fetch_one("MATCH (p:Person {id: $id}) RETURN p.version - 1 AS v", {"id": person_id})
        if current is None:
            raise NotFound("Person", person_id)
        raise VersionConflict(person_id, expected_version, current["v"])

    try:
        return await graph.write(work)
    except ConstraintError as exc:
        raise DuplicateNino(props.get("nino", "")) from exc


async def get_people(graph: Graph, ids: Sequence[str]) -> list[Person | None]:
    """Batch lookup for loaders: one round trip, results in key order, None for misses."""
    return await _get_by(graph, "id", list(ids))


async def get_people_by_nino(graph: Graph, ninos: Sequence[str]) -> list[Person | None]:
    return await _get_by(graph, "nino", list(ninos))


async def _get_by(graph: Graph, key: str, values: list[str]) -> list[Person | None]:
    # `key` is one of two literals chosen above, never caller input.
    query = f"UNWIND $values AS v MATCH (p:Person {{{key}: v}}) RETURN v AS k, p {PERSON_PROJECTION} AS p"

    async def work(tx: Tx) -> list[Person | None]:
        found = {row["k"]: person_from_row(row["p"]) for row in await tx.fetch(query, {"values": values})}
        return [found.get(v) for v in values]

    if not values:
        return []
    return await graph.read(work)


Cursor = tuple[str, str, str]


def _search_query(f: PersonFilter) -> tuple[str, list[str], dict[str, Any]]:
    """Build the search statement from fixed fragments; values only ever travel as parameters.

    The anchor is the most selective indexed filter given; the rest narrow it. Ordering (family
    name, given name, id) happens inside the anchored set, so no query sorts everyone.
    """
    params: dict[str, Any] = {}
    where: list[str] = []
    if f.nino:
        params["nino"] = normalise_nino(f.nino)
        match = "MATCH (p:Person {nino: $nino})"
    elif f.postcode:
        params["postcode"] = normalise_postcode(f.postcode)
        match = "MATCH (:Address {postcode: $postcode})<-[lv:LIVES_AT]-(p:Person)"
        where.append("lv.to IS NULL")
    elif f.date_of_birth:
        match = "MATCH (p:Person {dateOfBirth: $dob})"
    elif f.family_name:
        match = "MATCH (p:Person)"
    else:
        raise InvalidValue(
            "filter", "give at least one of nino, postcode, dateOfBirth or familyName (searches are index-backed)"
        )
    if f.date_of_birth:
        params["dob"] = f.date_of_birth
        if "dob" not in match:
            where.append("p.dateOfBirth = $dob")
    if f.family_name:
        key = name_key(f.family_name)
        if not key:
            raise InvalidValue("familyName", "must not be empty")
        params["family"] = key
        where.append("p.familyNameKey STARTS WITH $family")
    if f.given_name:
        key = name_key(f.given_name)
        if not key:
            raise InvalidValue("givenName", "must not be empty")
        params["given"] = key
        where.append("p.givenNameKey STARTS WITH $given")
    return match, where, params


async def search_people(graph: Graph, f: PersonFilter, first: int, after: Cursor | None) -> Page:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidValue("first", f"must be between 1 and {MAX_PAGE}")
    match, where, params = _search_query(f)
    if after is not None:
        params.update(cf=after[0], cg=after[1], cid=after[2])
        where.append(
            "(p.familyNameKey > $cf OR (p.familyNameKey = $cf AND "
            "(p.givenNameKey > $cg OR (p.givenNameKey = $cg AND p.id > $cid))))"
        )
    params["limit"] = first + 1
    query = (
        match
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" RETURN p {PERSON_PROJECTION} AS p, p.familyNameKey AS fk, p.givenNameKey AS gk"
        + " ORDER BY fk, gk, p.id LIMIT $limit"
    )

    async def work(tx: Tx) -> Page:
        rows = await tx.fetch(query, params)
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(
            items=[person_from_row(r["p"]) for r in rows],
            has_next=has_next,
            cursors=[(r["fk"], r["gk"], r["p"]["id"]) for r in rows],
        )

    return await graph.read(work)
