"""`hub serve --workers N`: N processes on one port, one /metrics for all of them, a clean drain."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from conftest import MintToken
from ops_support import StartHub, sample
from prometheus_client import CollectorRegistry, generate_latest, multiprocess


def per_worker(metrics_dir: Path, tmp: Path, name: str, **labels: str) -> dict[int, float]:
    """The value of a counter in each worker's own file (public API: one collector per file)."""
    found: dict[int, float] = {}
    for db in metrics_dir.glob("counter_*.db"):
        alone = tmp / db.stem
        alone.mkdir(parents=True)
        shutil.copy(db, alone / db.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))
        found[int(db.stem.split("_")[-1])] = sample(generate_latest(registry).decode(), name, **labels)
    return found


def test_two_workers_share_the_port_and_report_one_metrics(
    start_hub: StartHub, token: MintToken, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from a previous run")
    hub = start_hub("--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    assert not (metrics_dir / "counter_999999.db").exists(), "stale files are removed at start"
    headers = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "child-maintenance"}

    def ping(_: int) -> int:
        # A new connection per request, so the kernel hands them to either worker.
        response = httpx.post(
            hub.url + "/graphql",
            json={"query": "query Ping { __typename }", "operationName": "Ping"},
            headers=headers,
            timeout=30,
        )
        return response.status_code

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _ in range(10):
            statuses = list(pool.map(ping, range(40)))
            assert statuses == [200] * 40
            sent += 40
            served = per_worker(
                metrics_dir, tmp_path / f"split-{sent}", "hub_graphql_requests_total", operation="Ping", outcome="ok"
            )
            if len([v for v in served.values() if v > 0]) == 2:
                break
    assert len([v for v in served.values() if v > 0]) == 2, f"both workers served requests: {served}"
    assert sum(served.values()) == sent

    text = httpx.get(hub.url + "/metrics").text
    assert sample(text, "hub_graphql_requests_total", operation="Ping", outcome="ok") == sent, "summed over workers"
    pids = {int(p) for p in re.findall(r'hub_worker_up\{pid="(\d+)"\} 1\.0', text)}
    assert len(pids) == 2 and pids == set(served)

    # A worker that dies is replaced; the port keeps answering meanwhile.
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        assert ping(0) == 200
        now = {int(p) for p in re.findall(r'hub_worker_up\{pid="(\d+)"\} 1\.0', httpx.get(hub.url + "/metrics").text)}
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.2)
    assert hub.stop() == 0
    assert "worker started" in hub.log()
