"""A hub killed (SIGKILL) after receiving a webhook but before committing it: the sender's retry, against a
fresh process, applies the event exactly once.

Real `hub serve` processes against the session's ArcadeDB and valkey. The first is started with the
test-only hook `HUB_TEST_WEBHOOK_PAUSE_BEFORE_COMMIT`: once the delivery's receipt and payment are written
inside the open transaction, it creates a marker file and waits there, where the test kills it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from case_support import CaseFamily, case_family
from live_support import hub_process, payment_body, signed, webhook_secret

from graph import maintenance
from graph.driver import Graph
from graph.webhooks import receipt_exists
from hub.settings import Settings
from hub.webhooks import PAUSE_BEFORE_COMMIT_ENV


@pytest.fixture(scope="module")
def secret() -> Iterator[str]:
    with webhook_secret("payments") as value:
        yield value


async def amounts(graph: Graph, case_id: str) -> list[int]:
    return [p.amount_pence for p in (await maintenance.get_case(graph, case_id)).payments]


async def wait_for(path: Path, proc_alive: object, seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not path.exists():
        assert callable(proc_alive) and proc_alive(), "the hub exited before reaching the pause"
        assert loop.time() < deadline, "the hub never reached the point before commit"
        await asyncio.sleep(0.05)


async def test_sigkill_before_commit_then_retry_applies_once(
    settings: Settings, graph: Graph, secret: str, tmp_path: Path
) -> None:
    fam: CaseFamily = await case_family(graph, payment=False)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = payment_body(fam.case.id, 2_500, f"ref-{uuid.uuid4()}")
    marker = tmp_path / "paused"

    with hub_process(settings, **{PAUSE_BEFORE_COMMIT_ENV: str(marker)}) as (proc, url):
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            sending = asyncio.create_task(
                http.post("/webhooks/payments", content=body, headers=signed(secret, webhook_id, body))
            )
            await wait_for(marker, lambda: proc.poll() is None)
            assert int(marker.read_text()) == proc.pid
            # Written inside the open transaction, not committed: nobody else can see any of it.
            assert await amounts(graph, fam.case.id) == []
            assert not await receipt_exists(graph, "payments", webhook_id)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
            # The sender never got its 2xx, so it will retry.
            with pytest.raises(httpx.TransportError):
                await sending

    # The server rolled the dead connection's transaction back: still nothing.
    assert await amounts(graph, fam.case.id) == []
    assert not await receipt_exists(graph, "payments", webhook_id)

    with hub_process(settings) as (_, url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            # The retry: same webhook id and body, signed afresh (a new timestamp), as senders retry.
            retry = await http.post(
                "/webhooks/payments",
                content=body,
                headers=signed(secret, webhook_id, body, datetime.now(UTC) + timedelta(seconds=2)),
            )
            assert retry.status_code == 200, retry.text
            assert retry.json()["status"] == "applied"
            again = await http.post(
                "/webhooks/payments",
                content=body,
                headers=signed(secret, webhook_id, body, datetime.now(UTC) + timedelta(seconds=4)),
            )
            assert (again.status_code, again.json()["status"]) == (200, "duplicate")

    assert await amounts(graph, fam.case.id) == [2_500]
    assert await receipt_exists(graph, "payments", webhook_id)
