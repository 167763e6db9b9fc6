"""Candidate search for one incoming record: indexed equality in Cypher, one round trip.

A candidate is any person who shares, with the record, at least one of

1. the date of birth                      (index `person_date_of_birth`)
2. the current postcode                   (index `address_postcode`, then the current LIVES_AT)
3. the family and given name keys         (index `person_family_given_key`)

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
from datetime import date
from typing import Any

from graph.driver import Tx
from graph.linkage.features import MatchRecord, make_record
from graph.models import to_native

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

_CANDIDATES = (
    "CALL { "
    "MATCH (p:Person {dateOfBirth: $dob}) RETURN p "
    "UNION "
    "MATCH (:Address {postcode: $postcode})<-[lv:LIVES_AT]-(p:Person) WHERE lv.to IS NULL RETURN p "
    "UNION "
    "MATCH (p:Person {familyNameKey: $family, givenNameKey: $given}) RETURN p "
    "} "
    "WITH DISTINCT p LIMIT $limit "
    "WHERE NOT EXISTS { (p)<-[:MATCH_CANDIDATE {status: 'REJECTED'}]-(:ExternalIdentity {key: $identity}) } "
    "OPTIONAL MATCH (p)-[cur:LIVES_AT]->(a:Address) WHERE cur.to IS NULL "
    "WITH p, a ORDER BY a.id "
    "WITH p, collect(a)[0] AS a "
    f"RETURN {RECORD_PROJECTION}"
)


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
    names = keys.family_name_key is not None and keys.given_name_key is not None
    rows = await tx.fetch(
        _CANDIDATES,
        {
            "dob": keys.date_of_birth,
            "postcode": keys.postcode,
            "family": keys.family_name_key if names else None,
            "given": keys.given_name_key if names else None,
            "identity": identity_key,
            "limit": limit + 1,
        },
    )
    truncated = len(rows) > limit
    return [record_from_row(r) for r in rows[:limit]], truncated
