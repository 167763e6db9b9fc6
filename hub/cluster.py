"""`hub cluster`: N hub replicas behind HAProxy on one machine, the shape of production.

Each replica is a `hub serve` process (optionally with `--workers`) on its own loopback port, all
sharing one graph and one Valkey; HAProxy (Debian's `haproxy` package) listens on the public port,
health-checks `/readyz`, and retries requests on another replica (deploy/haproxy.cfg.template says
which). `rolling_restart()` replaces the replicas one at a time: SIGTERM, wait for the clean exit,
start the new process, wait until HAProxy has it back in rotation, then the next one.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from string import Template
from types import TracebackType
from typing import Self

from hub.settings import Settings

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg.template"
BACKEND = "replicas"
# Seconds a replica keeps serving after SIGTERM with /readyz false: more than HAProxy needs to mark it down
# (inter 300 ms x fall 1, see the template), so no new request reaches a closing socket.
DEFAULT_DRAIN = 1.5


class ClusterError(Exception):
    """The cluster could not be started or a replica did not come back; the message says which and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def replica_env(settings: Settings) -> dict[str, str]:
    """The environment of a replica: this process's, with the live graph and cache endpoints."""
    env = dict(os.environ)
    env.update(
        NEO4J_URI=settings.neo4j_uri or "",
        NEO4J_USER=settings.neo4j_user,
        NEO4J_DATABASE=settings.neo4j_database or "",
        REDIS_URL=settings.redis_url or "",
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_SHUTDOWN_DELAY=str(settings.shutdown_delay or DEFAULT_DRAIN),
    )
    if settings.neo4j_password is not None:
        env["NEO4J_PASSWORD"] = settings.neo4j_password.get_secret_value()
    return {k: v for k, v in env.items() if v != ""}


class Replica:
    """One `hub serve` process; its stderr goes to `<dir>/replica-<name>.log`."""

    def __init__(self, name: str, port: int, env: dict[str, str], log_dir: Path, workers: int = 1) -> None:
        self.name = name
        self.port = port
        self.env = env
        self.workers = workers
        self.log_path = log_dir / f"replica-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=out)

    def ready(self) -> bool:
        return _status(self.url + "/readyz") == 200

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc is None or self.proc.poll() is not None:
                raise ClusterError(f"replica {self.name} exited while starting; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ClusterError(f"replica {self.name} not ready after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the replica and wait for it; returns its exit code (SIGKILL: -9)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.exit_codes.append(code)
        return code


class HAProxy:
    """HAProxy in the foreground (`-db`) with an admin stats socket for the replicas' state."""

    def __init__(self, directory: Path, bind: str, replicas: list[Replica]) -> None:
        self.binary = shutil.which("haproxy")
        if self.binary is None:
            raise ClusterError("haproxy is not installed: apt-get install haproxy (make cluster does it)")
        self.directory = directory
        self.socket_path = directory / "haproxy.sock"
        self.config_path = directory / "haproxy.cfg"
        servers = "\n".join(
            f"    server {r.name} 127.0.0.1:{r.port} check\n    server {r.name}-fallback 127.0.0.1:{r.port} backup"
            for r in replicas
        )
        self.config_path.write_text(
            Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
                bind=bind, stats_socket=str(self.socket_path), servers=servers
            ),
            encoding="utf-8",
        )
        self.log_path = directory / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.binary is not None
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused {self.config_path}: {check.stderr.strip() or check.stdout.strip()}")
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config_path)], stdout=out, stderr=subprocess.STDOUT
            )

    def servers(self) -> dict[str, str]:
        """Replica name -> HAProxy's view of it (UP, DOWN, MAINT, ... with transitions like 'UP 1/2')."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.socket_path))
            s.sendall(b"show stat\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        return {
            row["svname"]: row["status"]
            for row in csv.DictReader(io.StringIO(text))
            if row.get("pxname") == BACKEND and row.get("svname") not in ("BACKEND", "FRONTEND")
        }

    def wait_up(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                states = self.servers()
            except OSError:
                states = {}
            if all(states.get(n) == "UP" for n in names):
                return
            if self.proc is None or self.proc.poll() is not None:
                raise ClusterError(f"haproxy exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ClusterError(f"haproxy does not see {names} up after {timeout:.0f} s: {states}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    """N replicas behind HAProxy on `host:port`, over the graph and cache that `settings` point at."""

    def __init__(
        self,
        settings: Settings,
        *,
        replicas: int = 3,
        host: str = "127.0.0.1",
        port: int = 8000,
        workers: int = 1,
        directory: Path | None = None,
        ready_timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> None:
        if not settings.neo4j_uri or not settings.redis_url:
            raise ClusterError("the cluster needs a running graph and cache (hub cluster starts the embedded ones)")
        self.settings = settings
        self.directory = directory or settings.data_dir / "cluster"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ready_timeout = ready_timeout
        self.port = port
        self.host = host
        env = {**replica_env(settings), **(env or {})}
        self.replicas = [
            Replica(f"hub{i + 1}", free_port(), env, self.directory, workers=workers) for i in range(replicas)
        ]
        self.haproxy = HAProxy(self.directory, f"{host}:{port}", self.replicas)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        try:
            for replica in self.replicas:
                replica.start()
            for replica in self.replicas:
                replica.wait_ready(self.ready_timeout)
            self.haproxy.start()
            self.haproxy.wait_up([r.name for r in self.replicas], 30)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        self.haproxy.stop()
        for replica in self.replicas:
            replica.stop()

    def restart(self, replica: Replica, sig: signal.Signals = signal.SIGTERM) -> float:
        """Stop one replica with `sig`, start it again, wait until HAProxy routes to it; seconds taken."""
        started = time.monotonic()
        code = replica.stop(sig)
        if sig == signal.SIGTERM and code != 0:
            raise ClusterError(f"replica {replica.name} exited {code} on SIGTERM; see {replica.log_path}")
        replica.start()
        replica.wait_ready(self.ready_timeout)
        self.haproxy.wait_up([replica.name], 30)
        return time.monotonic() - started

    def rolling_restart(self) -> list[float]:
        """SIGTERM each replica in turn, waiting for the new one to be in rotation before the next."""
        return [self.restart(replica) for replica in self.replicas]
