"""`hub cluster` as an operator runs it: replicas behind HAProxy, SIGHUP for a rolling restart, SIGTERM to stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ops_support import free_port, http_status


def test_hub_cluster_serves_restarts_on_sighup_and_stops_cleanly(hub_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "cluster.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "cluster", "--replicas", "2", "--port", str(port)],
            env={**hub_env, "HUB_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 120
        while "replicas behind HAProxy" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        assert http_status(f"http://127.0.0.1:{port}/readyz") == 200
        replicas = [p for p in (tmp_path / "data" / "cluster").glob("replica-*.log")]
        assert len(replicas) == 2

        proc.send_signal(signal.SIGHUP)
        while "rolling restart done" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline + 120, log.read_text()[-3000:]
            time.sleep(0.2)
        assert http_status(f"http://127.0.0.1:{port}/readyz") == 200

        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
        children = [int(pid) for pid, ppid in (line.split() for line in out.splitlines()) if int(ppid) == proc.pid]
        assert len(children) >= 3, "two replicas and HAProxy run as child processes"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        time.sleep(0.5)
        assert not [c for c in children if Path(f"/proc/{c}").exists()], "no process is left behind"
        assert http_status(f"http://127.0.0.1:{port}/readyz") is None, "HAProxy stopped with the cluster"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
