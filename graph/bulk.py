"""Bulk, idempotent writes used by `hub seed` (and later imports).

A batch is applied in one transaction and marked with a `SeedBatch {key}` node in the same
transaction, so a re-run skips finished batches (idempotent, resumable) and an interrupted batch is
either wholly there or wholly absent. Every write is a MERGE on a unique key, so even re-applying
a batch changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


# ----------------------------------------------------------------------------------------------------
# Imports (`hub import`): people keyed by NINO, in batches; relationships in a second pass
# ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportBatch:
    """Validated rows of an extract, ready to write. People are keyed by NINO (the record's unique key)."""

    people: list[dict[str, Any]] = field(default_factory=list)  # {nino, id, props}
    addresses: list[dict[str, Any]] = field(default_factory=list)  # {nino, id, props}
    residences: list[dict[str, Any]] = field(default_factory=list)  # {nino, address, from, to}
    claims: list[dict[str, Any]] = field(default_factory=list)  # {nino, id, props}
    links: list[dict[str, Any]] = field(default_factory=list)  # {kind, a, b, line}: household links by NINO
    # createdAt/updatedAt of the batch's new people: sent once, not once per row (the driver turns every
    # datetime into Bolt in Python, which was a third of the import's client CPU)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int  # people new to the graph
    present: int  # people whose NINO was already there (left as they were; their new claims/addresses added)
    links: int = 0  # link rows made (or found already there) in the batch's transaction
    deferred: list[dict[str, Any]] = field(default_factory=list)  # links naming a NINO neither here nor stored


_IMPORT_STATEMENTS: tuple[tuple[str, str], ...] = (
    # MERGE on the unique NINO: a re-run (or a resumed run) finds the people it wrote and changes nothing.
    (
        "people",
        "UNWIND $rows AS r MERGE (p:Person {nino: r.nino}) "
        "ON CREATE SET p += r.props, p.id = r.id, p.createdAt = $now, p.updatedAt = $now",
    ),
    ("addresses", _STATEMENTS[1][1]),
    (
        "residences",
        "UNWIND $rows AS r MATCH (p:Person {nino: r.nino}) MATCH (a:Address {id: r.address}) "
        "MERGE (p)-[l:LIVES_AT]->(a) ON CREATE SET l.from = r.from, l.to = r.to",
    ),
    (
        "claims",
        "UNWIND $rows AS r MATCH (p:Person {nino: r.nino}) MERGE (c:Claim {id: r.id}) ON CREATE SET c += r.props "
        "MERGE (p)-[:HAS_CLAIM]->(c)",
    ),
)

# Household links by NINO. PARTNER_OF is stored once, from the smaller id to the larger (as
# graph.household.link does), whichever row names it. MERGE where both people were stored before the
# transaction (the link may be there); CREATE where one of them is new in it (the link cannot be).
_MATCH_LINK: dict[str, str] = {
    "PARENT_OF": "MATCH (a:Person {nino: r.a}) MATCH (b:Person {nino: r.b}) ",
    "PARTNER_OF": "MATCH (x:Person {nino: r.a}) MATCH (y:Person {nino: r.b}) "
    "WITH r, CASE WHEN x.id < y.id THEN x ELSE y END AS a, CASE WHEN x.id < y.id THEN y ELSE x END AS b ",
}
_LINK_STATEMENTS: dict[str, str] = {kind: f"{match}MERGE (a)-[:{kind}]->(b)" for kind, match in _MATCH_LINK.items()}
_NEW_LINK_STATEMENTS: dict[str, str] = {
    kind: f"UNWIND $rows AS r {match}CREATE (a)-[:{kind}]->(b)" for kind, match in _MATCH_LINK.items()
}


def _params(batch: ImportBatch, attr: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows, "now": batch.now} if attr == "people" else {"rows": rows}


def _link_key(link: dict[str, Any]) -> tuple[str, str, str]:
    a, b = link["a"], link["b"]
    if link["kind"] == "PARTNER_OF" and b < a:  # named from either side, stored once
        a, b = b, a
    return link["kind"], a, b


Parts = Callable[[], AsyncIterator[ImportBatch]]  # a batch given in parts, each time from the first


async def import_batch(graph: Graph, batch: ImportBatch | Parts, *, check: bool = True) -> ImportResult:
    """Write one batch in one transaction (all of it or none of it); idempotent.

    The batch may come in parts (`Parts`: each call iterates them from the first, waiting for parts not
    yet there), so that its first statements go to the server while the caller is still reading the
    rest; the transaction still holds the whole batch. Each part's people, addresses, homes and claims
    are written as the part comes; links wait for the last part.

    The transaction asks which NINOs the graph holds, of each part's people and of the people the links
    name outside the batch. People it does not hold are written with plain CREATEs, as fast as the server
    writes anything (`_RAW_STATEMENTS`); people it holds go through MERGE, which adds only what is
    missing. A concurrent writer creating one of the "new" NINOs in between makes the CREATE fail on the
    unique constraint (ConstraintError), never duplicate a person: the caller retries, and the retry sees
    that person as present.

    With `check=False` it asks only about the people the links name outside the batch, and takes every
    person of the batch to be new (a first load): if one is stored, the unique constraint on the NINO
    fails the transaction with ConstraintError, having written nothing, and the caller checks.

    Links between people of the batch, or to people stored before, are made in the same transaction
    (each once, however many rows name it); links naming anyone else (someone later in the file, or no
    one) come back as `deferred`, for the caller's second pass.
    """
    parts = _whole(batch) if isinstance(batch, ImportBatch) else batch

    async def work(tx: Tx) -> ImportResult:
        present: set[str] = set()
        here: set[str] = set()
        links: list[dict[str, Any]] = []
        async for part in parts():
            ninos = [p["nino"] for p in part.people]
            here.update(ninos)
            links += part.links
            if check and ninos:
                present.update(r["n"] for r in await tx.fetch(_HELD, {"ninos": ninos}))
            for attr, create in _RAW_STATEMENTS:
                fresh = [r for r in getattr(part, attr) if r["nino"] not in present]
                if fresh:
                    await tx.fetch(create, _params(part, attr, fresh))
            for attr, merge in _IMPORT_STATEMENTS:
                known = [r for r in getattr(part, attr) if r["nino"] in present]
                if known:
                    await tx.fetch(merge, _params(part, attr, known))
        named = sorted({n for link in links for n in (link["a"], link["b"])} - here)
        if named:
            present.update(r["n"] for r in await tx.fetch(_HELD, {"ninos": named}))
        reachable = here | present
        made, deferred = 0, []
        unique: dict[tuple[str, str, str], dict[str, Any]] = {}
        for link in links:
            if link["a"] in reachable and link["b"] in reachable:
                made += 1
                unique.setdefault(_link_key(link), link)
            else:
                deferred.append(link)
        for kind in _MATCH_LINK:
            new = [x for x in unique.values() if x["kind"] == kind and not (x["a"] in present and x["b"] in present)]
            old = [x for x in unique.values() if x["kind"] == kind and x["a"] in present and x["b"] in present]
            if new:
                await tx.fetch(_NEW_LINK_STATEMENTS[kind], {"rows": new})
            if old:
                await tx.fetch(f"UNWIND $rows AS r {_LINK_STATEMENTS[kind]}", {"rows": old})
        created = len(here - present)
        return ImportResult(created=created, present=len(here) - created, links=made, deferred=deferred)

    return await graph.write(work)


_HELD = "UNWIND $ninos AS n MATCH (p:Person {nino: n}) RETURN n"


def _whole(batch: ImportBatch) -> Parts:
    async def parts() -> AsyncIterator[ImportBatch]:
        yield batch

    return parts


async def import_links(graph: Graph, links: Sequence[dict[str, Any]]) -> set[tuple[int, str, str]]:
    """Household links by NINO ({kind, a, b, line}); returns (line, a, b) of each link made (or already
    there). A link missing from the answer names a person the graph does not hold."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        by_kind.setdefault(link["kind"], []).append(link)

    async def work(tx: Tx) -> set[tuple[int, str, str]]:
        made: set[tuple[int, str, str]] = set()
        for kind, rows in by_kind.items():
            statement = f"UNWIND $rows AS r {_LINK_STATEMENTS[kind]} RETURN r.line AS line, r.a AS a, r.b AS b"
            made.update((int(f["line"]), f["a"], f["b"]) for f in await tx.fetch(statement, {"rows": rows}))
        return made

    return await graph.write(work) if links else set()


_RAW_STATEMENTS: tuple[tuple[str, str], ...] = (
    (
        "people",
        "UNWIND $rows AS r CREATE (p:Person) "
        "SET p = r.props, p.id = r.id, p.nino = r.nino, p.createdAt = $now, p.updatedAt = $now",
    ),
    ("addresses", "UNWIND $rows AS r CREATE (a:Address) SET a = r.props, a.id = r.id"),
    (
        "residences",
        "UNWIND $rows AS r MATCH (p:Person {nino: r.nino}) MATCH (a:Address {id: r.address}) "
        "CREATE (p)-[:LIVES_AT {from: r.from, to: r.to}]->(a)",
    ),
    (
        "claims",
        "UNWIND $rows AS r MATCH (p:Person {nino: r.nino}) CREATE (p)-[:HAS_CLAIM]->(c:Claim) SET c = r.props, "
        "c.id = r.id",
    ),
)


async def raw_write(graph: Graph, batch: ImportBatch) -> None:
    """The same rows with plain CREATEs, nothing checked: the server's raw batched-write rate, which the
    import benchmark measures beside `import_batch` in the same run. Not for real data."""

    async def work(tx: Tx) -> None:
        for attr, statement in _RAW_STATEMENTS:
            rows = getattr(batch, attr)
            if rows:
                await tx.fetch(statement, _params(batch, attr, rows))

    await graph.write(work)


async def raw_links(graph: Graph, links: Sequence[dict[str, Any]]) -> None:
    """Household links with the import's CREATE statements, nothing checked (bench only, see `raw_write`)."""

    async def work(tx: Tx) -> None:
        for kind, statement in _NEW_LINK_STATEMENTS.items():
            rows = [link for link in links if link["kind"] == kind]
            if rows:
                await tx.fetch(statement, {"rows": rows})

    if links:
        await graph.write(work)
