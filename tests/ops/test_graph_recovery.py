"""The graph handle replaces its driver (a fresh pool) when connections go bad, and keeps answering."""

from __future__ import annotations

import asyncio
import time

from graph.driver import Graph, Tx
from hub.app import connect_graph
from hub.settings import Settings


async def answer(graph: Graph) -> int:
    async def work(tx: Tx) -> int:
        row = await tx.fetch_one("RETURN 41 + 1 AS n")
        assert row is not None
        return int(row["n"])

    return await graph.read(work)


async def test_a_renewed_driver_answers_and_the_old_one_is_closed(settings: Settings) -> None:
    graph = connect_graph(settings)
    try:
        assert await answer(graph) == 42
        old = graph.driver
        graph._renewed = time.monotonic()
        graph._renew()
        assert graph.driver is old, "not renewed again within RENEW_EVERY"
        graph.RENEW_EVERY = 0.05
        await asyncio.sleep(0.1)
        graph._renew()
        assert graph.driver is not old
        assert await answer(graph) == 42
        deadline = time.monotonic() + 20
        while graph._retired:  # the old driver is closed once its grace has passed
            assert time.monotonic() < deadline, "the old driver was not closed"
            await asyncio.sleep(0.05)
    finally:
        await graph.close()
