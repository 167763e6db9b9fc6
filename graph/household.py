"""Household repository: parents, children, partner, caring, address history, claims, and links.

Every read takes a batch of person ids (one round trip for a DataLoader batch) and returns one
result per id, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.driver import Graph, Tx
from graph.errors import InvalidValue, NotFound
from graph.models import Address, Care, Claim, Person, RelationshipKind, Residence, to_native
from graph.person import PERSON_PROJECTION, person_from_row

MAX_CARE_HOURS = 168


def _address(row: dict[str, Any]) -> Address:
    return Address(id=row["id"], line1=row["line1"], line2=row.get("line2"), town=row["town"], postcode=row["postcode"])


_LINK = {
    # PARTNER_OF is symmetric: stored once, from the smaller id to the larger, so MERGE finds it
    # whichever way round the caller names the pair.
    RelationshipKind.PARENT_OF: "MERGE (a)-[r:PARENT_OF]->(b)",
    RelationshipKind.PARTNER_OF: "MERGE (a)-[r:PARTNER_OF]->(b)",
    RelationshipKind.CARES_FOR: "MERGE (a)-[r:CARES_FOR]->(b) SET r.hoursPerWeek = $hours",
}


async def link(
    graph: Graph, kind: RelationshipKind, from_id: str, to_id: str, hours_per_week: int | None = None
) -> tuple[Person, Person]:
    """Create (idempotently) a household relationship between two existing people."""
    if from_id == to_id:
        raise InvalidValue("toId", "a person cannot be linked to themselves")
    if kind is RelationshipKind.CARES_FOR:
        if hours_per_week is None or not 1 <= hours_per_week <= MAX_CARE_HOURS:
            raise InvalidValue("hoursPerWeek", f"caring needs hours per week between 1 and {MAX_CARE_HOURS}")
    elif hours_per_week is not None:
        raise InvalidValue("hoursPerWeek", "only a CARES_FOR link has hours per week")
    a_id, b_id = (from_id, to_id)
    if kind is RelationshipKind.PARTNER_OF and b_id < a_id:
        a_id, b_id = b_id, a_id

    async def work(tx: Tx) -> tuple[Person, Person]:
        rows = await tx.fetch(
            "UNWIND $ids AS i MATCH (p:Person {id: i}) "
            "RETURN p.id AS id, EXISTS { (p)-[:PARENT_OF]->(:Person {id: $from}) } AS is_parent_of_from",
            {"ids": [from_id, to_id], "from": from_id},
        )
        present = {r["id"]: r for r in rows}
        for pid in (from_id, to_id):
            if pid not in present:
                raise NotFound("Person", pid)
        if kind is RelationshipKind.PARENT_OF and present[to_id]["is_parent_of_from"]:
            raise InvalidValue("toId", "that person is already a parent of this one")
        row = await tx.fetch_one(
            f"MATCH (a:Person {{id: $a}}), (b:Person {{id: $b}}) {_LINK[kind]} "
            f"RETURN a {PERSON_PROJECTION} AS a, b {PERSON_PROJECTION} AS b",
            {"a": a_id, "b": b_id, "hours": hours_per_week},
        )
        assert row is not None
        people = {row["a"]["id"]: person_from_row(row["a"]), row["b"]["id"]: person_from_row(row["b"])}
        return people[from_id], people[to_id]

    return await graph.write(work)


@dataclass(frozen=True, slots=True)
class Household:
    """Everything around one person that the household fields read, fetched together."""

    parents: list[Person]
    children: list[Person]
    partners: list[Person]
    cares: list[Care]
    residences: list[Residence]
    claims: list[Claim]


EMPTY_HOUSEHOLD = Household(parents=[], children=[], partners=[], cares=[], residences=[], claims=[])

_P = PERSON_PROJECTION
_HOUSEHOLD = f"""
UNWIND $ids AS i
MATCH (p:Person {{id: i}})
RETURN i,
  COLLECT {{ MATCH (p)<-[:PARENT_OF]-(o:Person) RETURN o {_P} ORDER BY o.dateOfBirth, o.id }} AS parents,
  COLLECT {{ MATCH (p)-[:PARENT_OF]->(o:Person) RETURN o {_P} ORDER BY o.dateOfBirth, o.id }} AS children,
  COLLECT {{ MATCH (p)-[:PARTNER_OF]-(o:Person) RETURN o {_P} ORDER BY o.dateOfBirth, o.id }} AS partners,
  COLLECT {{ MATCH (p)-[c:CARES_FOR]->(o:Person) RETURN c {{.hoursPerWeek, person: o {_P}}} ORDER BY o.id }} AS cares,
  COLLECT {{ MATCH (p)-[r:LIVES_AT]->(a:Address)
            RETURN r {{.from, .to, address: a {{.id, .line1, .line2, .town, .postcode}}}} }} AS residences,
  COLLECT {{ MATCH (p)-[:HAS_CLAIM]->(c:Claim)
            RETURN c {{.id, .type, .status, .startDate, .amountPence}} ORDER BY c.startDate DESC, c.id }} AS claims
"""


def _claim(c: dict[str, Any]) -> Claim:
    return Claim(
        id=c["id"],
        type=c["type"],
        status=c["status"],
        start_date=to_native(c.get("startDate")),
        amount_pence=c["amountPence"],
    )


def household_from_row(row: dict[str, Any]) -> Household:
    """A `Household` from a row (or map) holding the six collections `_HOUSEHOLD` returns (graph.views too)."""
    residences = [
        Residence(address=_address(r["address"]), from_date=to_native(r.get("from")), to_date=to_native(r.get("to")))
        for r in row["residences"]
    ]
    residences.sort(key=lambda r: (r.to_date is not None, -(r.from_date.toordinal() if r.from_date else 0)))
    return Household(
        parents=[person_from_row(o) for o in row["parents"]],
        children=[person_from_row(o) for o in row["children"]],
        partners=[person_from_row(o) for o in row["partners"]],
        cares=[Care(person=person_from_row(c["person"]), hours_per_week=c["hoursPerWeek"]) for c in row["cares"]],
        residences=residences,
        claims=[_claim(c) for c in row["claims"]],
    )


async def households_of(graph: Graph, ids: Sequence[str]) -> list[Household | None]:
    """One statement for the whole household of each person in a batch (None for unknown ids).

    The household fields of a Person are usually asked for together (a caseworker's screen), so
    fetching them together costs one round trip per level of nesting instead of one per field.
    """

    async def work(tx: Tx) -> list[Household | None]:
        found = {row["i"]: household_from_row(row) for row in await tx.fetch(_HOUSEHOLD, {"ids": list(ids)})}
        return [found.get(i) for i in ids]

    if not ids:
        return []
    return await graph.read(work)
