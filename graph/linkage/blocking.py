"""Candidate search for one incoming record: indexed equality in Cypher, one round trip.

A candidate is any person who shares, with the record, at least one of

1. the date of birth                      (index `person_date_of_birth`)
2. the current postcode                   (index `address_postcode`, then the current LIVES_AT)
3. the full name                          (index `person_full_name_key` on `fullNameKey`: one property,
                                            because the embedded server does not serve equality on
                                            both properties of a composite index; see `graph.models`)

These are the rules Splink is given for its own predictions (`BLOCKING_RULES`), so both see the
same pairs, up to the name keys: the graph keys names by `graph.models.name_key` (case and accents
folded), the model by `features.normalise_name` (punctuation folded too). Every rule is an
equality on an indexed property: a range or a fuzzy search over everyone would not be index-backed
on the embedded server (shared PLATFORM.md) and would not scale on any server. A record with none
of these keys, or one whose every key was corrupted, is not found: the bench measures how often.

People an identity was already rejected for by a steward are left out here, so a rejected pair is
never proposed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from neo4j.exceptions import ConstraintError

from graph.driver import Graph, Tx
from graph.linkage.features import MatchRecord, make_record
from graph.models import full_name_key, to_native

# Splink's form of the same rules (columns of the training tables; see hub.linkage).
BLOCKING_RULES: tuple[str, ...] = (
    "l.date_of_birth = r.date_of_birth",
    "l.postcode = r.postcode",
    "l.family_name = r.family_name AND l.given_name = r.given_name",
)

MAX_CANDIDATES = 1000

# The projection every core record is read with, here and in `records`.
RECORD_PROJECTION = (
    "p.id AS id, p.givenName AS givenName, p.familyName AS familyName, p.dateOfBirth AS dateOfBirth, "
    "a.line1 AS line1, a.postcode AS postcode"
)

# One UNION branch per key the record has. A branch for a missing key is left out rather than given
# a null: the embedded server answers `{dateOfBirth: null}` by scanning every person (no index holds
# nulls), which was the whole p99 at one million people (0.8 s against 6 ms).
_BRANCHES = {
    "dob": "MATCH (p:Person {dateOfBirth: $dob}) RETURN p",
    "postcode": "MATCH (:Address {postcode: $postcode})<-[lv:LIVES_AT]-(p:Person) WHERE lv.to IS NULL RETURN p",
    "fullName": "MATCH (p:Person {fullNameKey: $fullName}) RETURN p",
}
_AFTER = (
    "WITH DISTINCT p LIMIT $limit "
    "WHERE NOT EXISTS { (p)<-[:MATCH_CANDIDATE {status: 'REJECTED'}]-(:ExternalIdentity {key: $identity}) } "
    "OPTIONAL MATCH (p)-[cur:LIVES_AT]->(a:Address) WHERE cur.to IS NULL "
    "WITH p, a ORDER BY a.id "
    "WITH p, collect(a)[0] AS a "
    f"RETURN {RECORD_PROJECTION}"
)


def _statement(keys: tuple[str, ...]) -> str:
    """The candidate statement for the keys a record has (names from `_BRANCHES` only, never from input)."""
    return "CALL { " + " UNION ".join(_BRANCHES[k] for k in keys) + " } " + _AFTER


@dataclass(frozen=True, slots=True)
class Candidate:
    person_id: str
    record: MatchRecord


@dataclass(frozen=True, slots=True)
class BlockingKeys:
    """The indexed values one record is searched by (None: that rule is not used)."""

    date_of_birth: date | None
    postcode: str | None
    family_name_key: str | None
    given_name_key: str | None


def record_from_row(row: dict[str, Any]) -> Candidate:
    return Candidate(
        person_id=row["id"],
        record=make_record(
            row.get("givenName"),
            row.get("familyName"),
            to_native(row.get("dateOfBirth")),
            row.get("postcode"),
            row.get("line1"),
        ),
    )


async def find_candidates(
    tx: Tx, keys: BlockingKeys, identity_key: str, limit: int = MAX_CANDIDATES
) -> tuple[list[Candidate], bool]:
    """People sharing a blocking key with the record, minus those rejected for `identity_key`.

    Returns the candidates and whether `limit` cut the list short (then a true match may be missing,
    and the caller should not treat "no good candidate" as certain).
    """
    given, family = keys.given_name_key, keys.family_name_key
    full_name = full_name_key(given, family) if given is not None and family is not None else None
    values = {"dob": keys.date_of_birth, "postcode": keys.postcode, "fullName": full_name}
    present = tuple(k for k, v in values.items() if v is not None)
    if not present:
        return [], False
    rows = await tx.fetch(
        _statement(present),
        {**{k: values[k] for k in present}, "identity": identity_key, "limit": limit + 1},
    )
    truncated = len(rows) > limit
    return [record_from_row(r) for r in rows[:limit]], truncated


BACKFILL_BATCH = 20_000
_BACKFILLED = "full-name-key"


async def backfill_full_name_keys(graph: Graph, *, once: bool = False) -> int:
    """Give `fullNameKey` to people written before it existed, a batch per transaction; how many.

    With `once` (start-up), a database that was backfilled before is not scanned again: a marker node
    records it. People written since carry the key from their writer (`graph.person`, the seeder).
    """

    async def done(tx: Tx) -> bool:
        return await tx.fetch_one("MATCH (m:Migration {id: $id}) RETURN m.id AS id", {"id": _BACKFILLED}) is not None

    if once and await graph.read(done):
        return 0

    async def batch(tx: Tx) -> int:
        row = await tx.fetch_one(
            "MATCH (p:Person) WHERE p.fullNameKey IS NULL AND p.familyNameKey IS NOT NULL "
            "AND p.givenNameKey IS NOT NULL WITH p LIMIT $limit "
            "SET p.fullNameKey = p.familyNameKey + '|' + p.givenNameKey RETURN count(p) AS n",
            {"limit": BACKFILL_BATCH},
        )
        return int(row["n"]) if row else 0

    total = 0
    while n := await graph.write(batch):
        total += n

    async def mark(tx: Tx) -> None:
        at = datetime.now(UTC).isoformat()
        await tx.fetch("MERGE (m:Migration {id: $id}) SET m.at = $at", {"id": _BACKFILLED, "at": at})

    try:
        await graph.write(mark)
    except ConstraintError:
        pass  # marked concurrently by another process (the embedded server's MERGE raises)
    return total
