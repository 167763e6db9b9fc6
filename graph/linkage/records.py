"""The core record as match records: what a model is trained on and its frequency tables counted from."""

from __future__ import annotations

from graph.driver import Graph, Tx
from graph.linkage.blocking import RECORD_PROJECTION, Candidate, record_from_row

_CORE = (
    "MATCH (p:Person) "
    "OPTIONAL MATCH (p)-[cur:LIVES_AT]->(a:Address) WHERE cur.to IS NULL "
    "WITH p, a ORDER BY a.id "
    "WITH p, collect(a)[0] AS a "
    f"RETURN {RECORD_PROJECTION} LIMIT $limit"
)


async def core_records(graph: Graph, limit: int = 5_000_000) -> list[Candidate]:
    """Every person (up to `limit`) with their current address, in one statement.

    Training reads the whole register once; at a department's scale this is an export job (or the
    Spark backend reading a snapshot), not a request.
    """

    async def work(tx: Tx) -> list[Candidate]:
        return [record_from_row(r) for r in await tx.fetch(_CORE, {"limit": limit})]

    return await graph.read(work)


async def count_core(graph: Graph) -> int:
    async def work(tx: Tx) -> int:
        row = await tx.fetch_one("MATCH (p:Person) RETURN count(p) AS n")
        return int(row["n"]) if row else 0

    return await graph.read(work)
