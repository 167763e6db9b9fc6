"""Bulk, idempotent writes used by `hub seed` (and later imports).

A batch is applied in one transaction and marked with a `SeedBatch {key}` node in the same
transaction, so a re-run skips finished batches (idempotent, resumable) and an interrupted batch is
either wholly there or wholly absent. Every write is a MERGE on a unique key, so even re-applying
a batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graph.driver import Graph, Tx


@dataclass(slots=True)
class Batch:
    key: str
    people: list[dict[str, Any]] = field(default_factory=list)  # {id, props}
    addresses: list[dict[str, Any]] = field(default_factory=list)  # {id, props}
    residences: list[dict[str, Any]] = field(default_factory=list)  # {person, address, from, to}
    parent_of: list[dict[str, str]] = field(default_factory=list)  # {a, b}
    partner_of: list[dict[str, str]] = field(default_factory=list)  # {a, b}, a < b
    cares_for: list[dict[str, Any]] = field(default_factory=list)  # {a, b, hours}
    claims: list[dict[str, Any]] = field(default_factory=list)  # {person, id, props}


_STATEMENTS: tuple[tuple[str, str], ...] = (
    ("people", "UNWIND $rows AS r MERGE (p:Person {id: r.id}) ON CREATE SET p += r.props"),
    ("addresses", "UNWIND $rows AS r MERGE (a:Address {id: r.id}) ON CREATE SET a += r.props"),
    (
        "residences",
        "UNWIND $rows AS r MATCH (p:Person {id: r.person}) MATCH (a:Address {id: r.address}) "
        "MERGE (p)-[l:LIVES_AT]->(a) ON CREATE SET l.from = r.from, l.to = r.to",
    ),
    (
        "parent_of",
        "UNWIND $rows AS r MATCH (a:Person {id: r.a}) MATCH (b:Person {id: r.b}) MERGE (a)-[:PARENT_OF]->(b)",
    ),
    (
        "partner_of",
        "UNWIND $rows AS r MATCH (a:Person {id: r.a}) MATCH (b:Person {id: r.b}) MERGE (a)-[:PARTNER_OF]->(b)",
    ),
    (
        "cares_for",
        "UNWIND $rows AS r MATCH (a:Person {id: r.a}) MATCH (b:Person {id: r.b}) "
        "MERGE (a)-[c:CARES_FOR]->(b) SET c.hoursPerWeek = r.hours",
    ),
    (
        "claims",
        "UNWIND $rows AS r MATCH (p:Person {id: r.person}) MERGE (c:Claim {id: r.id}) ON CREATE SET c += r.props "
        "MERGE (p)-[:HAS_CLAIM]->(c)",
    ),
)


async def done_batches(graph: Graph, keys: Sequence[str]) -> set[str]:
    async def work(tx: Tx) -> set[str]:
        rows = await tx.fetch("UNWIND $keys AS k MATCH (s:SeedBatch {key: k}) RETURN s.key AS k", {"keys": list(keys)})
        return {r["k"] for r in rows}

    return await graph.read(work)


async def write_batch(graph: Graph, batch: Batch) -> None:
    async def work(tx: Tx) -> None:
        for attr, statement in _STATEMENTS:
            rows = getattr(batch, attr)
            if rows:
                await tx.fetch(statement, {"rows": rows})
        await tx.fetch("MERGE (s:SeedBatch {key: $key})", {"key": batch.key})

    await graph.write(work)
