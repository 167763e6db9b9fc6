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
from typing import Any

from graph.driver import Graph, Tx
from graph.models import to_native

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

    async def work(tx: Tx) -> list[dict[str, Any] | None]:
        found = {row["k"]: _view(row["v"]) for row in await tx.fetch(CASEWORKER_VIEW, {"ids": keys})}
        return [found.get(k) for k in keys]

    return await graph.read(work)


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
