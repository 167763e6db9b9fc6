"""Read views: whole screens of data in one Cypher statement.

`caseworker_views` returns, per person id, everything the GraphQL caseworker query asks for (the
person, partner, children with each child's parents, claims, current address and address history)
in ONE statement and one round trip. The benchmark uses it as the floor the hub is compared with;
it is also the shape a look-ahead resolver would compile a selection into.

Orders match the hub's resolvers: partner and children by date of birth then id, claims newest
first, address history current first then newest first. Keys are the GraphQL field names; dates
come back as `datetime.date`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from graph.driver import Graph, Tx
from graph.household import Household, household_from_row
from graph.models import Person, to_native
from graph.person import PERSON_PROJECTION, person_from_row

# ArcadeDB quirk (26.10): a map *literal* holding a map projection, `{from: r.from, address: a {.postcode}}`,
# comes back as the inner map alone; a map projection of the relationship, `r {.from, address: …}`, works.
CASEWORKER_VIEW = """
UNWIND $ids AS i
MATCH (p:Person {id: i})
RETURN i AS k, p {
  .id, .nino, .givenName, .familyName, .dateOfBirth,
  partner: head(COLLECT {
    MATCH (p)-[:PARTNER_OF]-(o:Person)
    RETURN o {.id, .givenName, .familyName} ORDER BY o.dateOfBirth, o.id
  }),
  children: COLLECT {
    MATCH (p)-[:PARENT_OF]->(c:Person)
    RETURN c {
      .id, .givenName, .dateOfBirth,
      parents: COLLECT {
        MATCH (c)<-[:PARENT_OF]-(q:Person)
        RETURN q {.id, .givenName} ORDER BY q.dateOfBirth, q.id
      }
    } ORDER BY c.dateOfBirth, c.id
  },
  claims: COLLECT {
    MATCH (p)-[:HAS_CLAIM]->(c:Claim)
    RETURN c {.id, .type, .status, .amountPence, .startDate} ORDER BY c.startDate DESC, c.id
  },
  address: head(COLLECT {
    MATCH (p)-[r:LIVES_AT]->(a:Address) WHERE r.to IS NULL
    RETURN a {.line1, .town, .postcode} ORDER BY r.from DESC
  }),
  addressHistory: COLLECT {
    MATCH (p)-[r:LIVES_AT]->(a:Address)
    RETURN r {.from, .to, address: a {.postcode}} ORDER BY r.to IS NOT NULL, r.from DESC
  }
} AS v
"""

SAMPLE_PARENTS = """
MATCH (p:Person)
WHERE rand() < $fraction
  AND EXISTS { (p)-[:PARENT_OF]->(:Person) }
  AND EXISTS { (p)-[:HAS_CLAIM]->(:Claim) }
RETURN p.id AS id
LIMIT $n
"""


def _view(v: dict[str, Any]) -> dict[str, Any]:
    """neo4j temporal values -> `date`, in place (only the date fields the view holds)."""
    v["dateOfBirth"] = to_native(v.get("dateOfBirth"))
    for child in v["children"]:
        child["dateOfBirth"] = to_native(child.get("dateOfBirth"))
    for claim in v["claims"]:
        claim["startDate"] = to_native(claim.get("startDate"))
    for stay in v["addressHistory"]:
        stay["from"] = to_native(stay.get("from"))
        stay["to"] = to_native(stay.get("to"))
    return v


async def caseworker_views(graph: Graph, ids: Sequence[str]) -> list[dict[str, Any] | None]:
    """The caseworker view per id: one statement, results in key order, None for unknown ids."""
    keys = list(ids)
    if not keys:
        return []

    found = {
        row["k"]: _view(row["v"])
        for row in await graph.read_statement(CASEWORKER_VIEW, {"ids": keys}, label="views.caseworker_views")
    }
    return [found.get(k) for k in keys]


async def sample_parent_ids(graph: Graph, n: int, fraction: float = 1.0) -> list[str]:
    """Up to `n` ids of people with children and claims, without sorting anyone.

    A streaming label scan that stops after `n` matches; `fraction` (0-1] keeps each candidate with
    that probability, spreading the sample over the graph instead of taking the first people stored.
    """
    if n < 1 or not 0 < fraction <= 1:
        raise ValueError("n must be positive and fraction in (0, 1]")

    async def work(tx: Tx) -> list[str]:
        return [row["id"] for row in await tx.fetch(SAMPLE_PARENTS, {"n": n, "fraction": fraction})]

    return await graph.read(work)


async def count_people(graph: Graph) -> int:
    async def work(tx: Tx) -> int:
        row = await tx.fetch_one("MATCH (p:Person) RETURN count(p) AS n")
        return int(row["n"]) if row else 0

    return await graph.read(work)


# ----------------------------------------------------------------------------------------------------
# Household trees: a person and the households a selection reaches, in one statement
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HouseholdShape:
    """Fetch this person's whole household and, nested, the households of the people named here.

    `parents` set means each parent's household is fetched too (with that shape), and so on down;
    None means those people are returned but not their households. Built by the schema from a
    GraphQL selection; hashable, so each distinct shape compiles to one cached statement.
    """

    parents: HouseholdShape | None = None
    children: HouseholdShape | None = None
    partners: HouseholdShape | None = None
    cares: HouseholdShape | None = None

    def depth(self) -> int:
        nested = [s.depth() for s in (self.parents, self.children, self.partners, self.cares) if s is not None]
        return 1 + max(nested, default=0)


MAX_TREE_DEPTH = 4  # households deep; a deeper selection is cut here and the rest loads level by level
TreeKey = Literal["id", "nino"]
_PROPS = PERSON_PROJECTION[1:-1]  # ".id, .nino, ..." without the braces, to append nested collections

# (field, pattern from the person `{v}` to the other person `{o}`, order) for the four person collections.
_PEOPLE: tuple[tuple[str, str], ...] = (
    ("parents", "({v})<-[:PARENT_OF]-({o}:Person)"),
    ("children", "({v})-[:PARENT_OF]->({o}:Person)"),
    ("partners", "({v})-[:PARTNER_OF]-({o}:Person)"),
)


def _person_map(v: str, shape: HouseholdShape | None, level: int) -> str:
    """`v {person props[, the six household collections]}`; the collections nest per `shape`."""
    if shape is None:
        return f"{v} {{{_PROPS}}}"
    o = f"o{level}"
    parts = [_PROPS]
    for name, pattern in _PEOPLE:
        inner = _person_map(o, getattr(shape, name), level + 1)
        match = pattern.format(v=v, o=o)
        parts.append(f"{name}: COLLECT {{ MATCH {match} RETURN {inner} ORDER BY {o}.dateOfBirth, {o}.id }}")
    cared = _person_map(o, shape.cares, level + 1)
    parts.append(
        f"cares: COLLECT {{ MATCH ({v})-[c{level}:CARES_FOR]->({o}:Person) "
        f"RETURN c{level} {{.hoursPerWeek, person: {cared}}} ORDER BY {o}.id }}"
    )
    parts.append(
        f"residences: COLLECT {{ MATCH ({v})-[r{level}:LIVES_AT]->(a{level}:Address) "
        f"RETURN r{level} {{.from, .to, address: a{level} {{.id, .line1, .line2, .town, .postcode}}}} }}"
    )
    parts.append(
        f"claims: COLLECT {{ MATCH ({v})-[:HAS_CLAIM]->(k{level}:Claim) "
        f"RETURN k{level} {{.id, .type, .status, .startDate, .amountPence}} "
        f"ORDER BY k{level}.startDate DESC, k{level}.id }}"
    )
    return f"{v} {{{', '.join(parts)}}}"


@lru_cache(maxsize=256)
def household_tree_statement(shape: HouseholdShape, key: TreeKey) -> str:
    """The statement for `shape`, matching roots by `key` (both from whitelists: nothing user-sent)."""
    return f"UNWIND $keys AS k MATCH (p:Person {{{key}: k}}) RETURN k, {_person_map('p', shape, 1)} AS v"


@dataclass(frozen=True, slots=True)
class HouseholdTree:
    """A person and every household the shape reached, by person id (the root's included)."""

    person: Person
    households: dict[str, Household]


def _collect(v: dict[str, Any], shape: HouseholdShape, into: dict[str, Household]) -> None:
    into[v["id"]] = household_from_row(v)
    for name, _ in _PEOPLE:
        inner = getattr(shape, name)
        if inner is not None:
            for o in v[name]:
                _collect(o, inner, into)
    if shape.cares is not None:
        for c in v["cares"]:
            _collect(c["person"], shape.cares, into)


async def household_trees(
    graph: Graph, shape: HouseholdShape, keys: Sequence[str], key: TreeKey = "id"
) -> list[HouseholdTree | None]:
    """Per key (person id or NINO), the person and the households `shape` reaches: ONE statement for
    what would otherwise take one round trip per person lookup and per level of nesting. Results in key
    order, None for unknown keys. Each household is complete, exactly as `households_of` returns it."""
    wanted = list(keys)
    if not wanted:
        return []
    found: dict[str, HouseholdTree] = {}
    statement = household_tree_statement(shape, key)
    for row in await graph.read_statement(statement, {"keys": wanted}, label="views.household_trees"):
        households: dict[str, Household] = {}
        _collect(row["v"], shape, households)
        found[row["k"]] = HouseholdTree(person=person_from_row(row["v"]), households=households)
    return [found.get(k) for k in wanted]


SAMPLE_PEOPLE = """
MATCH (p:Person)
WHERE rand() < $fraction
OPTIONAL MATCH (p)-[r:LIVES_AT]->(a:Address) WHERE r.to IS NULL
RETURN p.id AS id, p.nino AS nino, p.familyName AS familyName, p.givenName AS givenName,
       p.dateOfBirth AS dateOfBirth, a.postcode AS postcode
LIMIT $n
"""


async def sample_people(graph: Graph, n: int, fraction: float = 1.0) -> list[dict[str, Any]]:
    """Up to `n` people's lookup keys (id, NINO, names, date of birth, current postcode), for benchmarks;
    a streaming label scan keeping each person with probability `fraction` (0-1]."""
    if n < 1 or not 0 < fraction <= 1:
        raise ValueError("n must be positive and fraction in (0, 1]")
    rows = await graph.read_statement(SAMPLE_PEOPLE, {"n": n, "fraction": fraction}, label="views.sample_people")
    return [{**r, "dateOfBirth": to_native(r["dateOfBirth"])} for r in rows]


async def round_trip(graph: Graph) -> None:
    """A trivial statement: the cost of one round trip, the baseline lookups are compared with."""
    await graph.read_statement("RETURN 1 AS ok", label="views.round_trip")
