"""The HTTP server process: uvicorn, draining gracefully on SIGTERM / SIGINT, one or N workers.

`hub serve` runs one `DrainingServer` in its own process, or with `--workers N` a small supervisor
(`Workers`) that binds the socket once and runs N `DrainingServer`s on it in spawned processes. Workers
keep no state that matters between requests (audit chains are per process by design), so any worker can
answer any request; Prometheus multi-process mode (`PROMETHEUS_MULTIPROC_DIR`, managed here) lets
`/metrics` on any worker report all of them.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn._subprocess import get_subprocess

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _starlette(app: Any) -> Starlette | None:
    """The Starlette app under uvicorn's wrappers (proxy headers, message logger), if any."""
    for _ in range(8):
        if isinstance(app, Starlette):
            return app
        app = getattr(app, "app", None)
    return None


class DrainingServer(uvicorn.Server):
    """Turns /readyz false the moment it is asked to stop.

    After `drain_delay` seconds (`HUB_SHUTDOWN_DELAY`, default 0: time for a load balancer or
    Kubernetes to see /readyz fail and stop routing here, while requests that still arrive are served)
    uvicorn closes its listening sockets (new connections are refused), closes WebSockets with 1012
    "service restart" (clients reconnect elsewhere and replay from their last position), and lets
    in-flight requests finish within `timeout_graceful_shutdown`. The process then exits 0. A second
    signal during the delay stops at once.
    """

    def __init__(
        self, config: uvicorn.Config, application: Starlette | None = None, *, drain_delay: float = 0.0
    ) -> None:
        super().__init__(config)
        self.application = application
        self.drain_delay = drain_delay
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        application = self.application or _starlette(getattr(self.config, "loaded_app", None))
        if application is not None:
            application.state.draining = True
        if self.drain_delay > 0 and self._exit_at is None:
            self._exit_at = time.monotonic() + self.drain_delay
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


def worker_app() -> Starlette:
    """uvicorn factory run in each worker: settings, logging and tracing from the environment."""
    from hub.app import create_app
    from hub.logs import configure_logging
    from hub.settings import load_settings
    from hub.tracing import configure_tracing

    settings = load_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing()
    return create_app(settings)


def _run_worker(config: uvicorn.Config, drain_delay: float, sockets: list[socket.socket]) -> None:
    from hub.tracing import shutdown_tracing

    try:
        DrainingServer(config, drain_delay=drain_delay).run(sockets=sockets)
    finally:
        shutdown_tracing()  # a spawned worker exits without atexit handlers: flush queued spans now


@contextmanager
def multiprocess_metrics_dir() -> Iterator[Path]:
    """Set `PROMETHEUS_MULTIPROC_DIR` for the workers: the operator's (emptied first) or a private one.

    Must run before any worker imports prometheus_client. Files of a previous run would be summed into
    this run's counters, so they are removed at start.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="hub-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


class Workers:
    """Run `config.workers` DrainingServers on one socket; replace any that dies; drain all on SIGTERM.

    On SIGTERM / SIGINT the supervisor closes its own copy of the listening socket (so that once every
    worker has closed its copy the port refuses connections), signals each worker, waits up to the grace
    period plus a margin, kills what is left and returns; the caller exits 0.
    """

    def __init__(self, config: uvicorn.Config, *, drain_delay: float = 0.0, restart_delay: float = 1.0) -> None:
        self.config = config
        self.drain_delay = drain_delay
        self.restart_delay = restart_delay
        self.processes: list[SpawnProcess] = []
        self.stopping = False

    def _spawn(self, sockets: list[socket.socket]) -> SpawnProcess:
        process = get_subprocess(self.config, functools.partial(_run_worker, self.config, self.drain_delay), sockets)
        process.start()
        log.info("worker started: pid %s", process.pid)
        return process

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        config = self.config
        sock = config.bind_socket()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.processes = [self._spawn([sock]) for _ in range(config.workers)]
            while not self.stopping:
                wait([p.sentinel for p in self.processes], timeout=0.5)
                for i, process in enumerate(self.processes):
                    if process.is_alive() or self.stopping:
                        continue
                    log.warning("worker exited (pid %s, code %s); replacing it", process.pid, process.exitcode)
                    _mark_dead(process.pid)
                    time.sleep(self.restart_delay)  # a worker that cannot start must not spin the CPU
                    self.processes[i] = self._spawn([sock])
        finally:
            sock.close()  # refuse new connections once the workers have closed theirs too
            self._stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _stop(self) -> None:
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.drain_delay + float(self.config.timeout_graceful_shutdown or 20) + 10
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker did not stop in time; killing it (pid %s)", process.pid)
                process.kill()
                process.join()
            _mark_dead(process.pid)


def _mark_dead(pid: int | None) -> None:
    if pid is not None and os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
