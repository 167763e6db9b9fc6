"""Federation fixtures: Apollo's npm packages, installed from the lockfile, and the scripts in `federation/`.

The npm packages are test tools (the gateway, composition, a partner subgraph), so the suite installs them
itself with `npm ci`. Without node, npm or the registry the federation tests fail with a message saying
so: they never skip, since a skipped gateway test would pass CI without proving anything.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import npm_ci

from hub.embedded import pdeathsig_preexec
from schema import build_schema

FEDERATION = Path(__file__).resolve().parents[2] / "federation"
PARTNER_SDL = FEDERATION / "partners" / "hmrc-earnings.graphql"
READY_TIMEOUT = 60.0


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("the federation tests need Node.js 20+ on PATH (apt-get install nodejs npm)")
    return found


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """`npm ci` in federation/: the pinned @apollo packages, exactly as package-lock.json names them."""
    return npm_ci(FEDERATION, "the federation tests")


@pytest.fixture(scope="session")
def hub_sdl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub's subgraph SDL, as `hub schema --federation` prints it, in a file."""
    path = tmp_path_factory.mktemp("sdl") / "hub.graphql"
    path.write_text(build_schema().subgraph_sdl(), encoding="utf-8")
    return path


RunNode = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_node(node_modules: Path) -> RunNode:
    """run_node(script, *args, stdin=None): run a script in federation/ to completion (bounded)."""

    def run(script: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node(), script, *args], cwd=FEDERATION, input=stdin, capture_output=True, text=True, timeout=120
        )

    return run


@pytest.fixture(scope="session")
def partner_sdl() -> Path:
    """The HMRC earnings subgraph's SDL (federation/partners/)."""
    return PARTNER_SDL


@dataclass(slots=True)
class NodeServer:
    process: subprocess.Popen[str]
    url: str
    log: Path


StartNode = Callable[..., NodeServer]


@pytest.fixture(scope="module")
def start_node(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartNode]:
    """start_node(script, *args) -> a running Node server on a free loopback port; all stopped at teardown.

    A script prints `ready <url>` once listening; the wait for it is bounded and a script that exits
    first is reported with its log. Each server is its own process group leader and gets the
    parent-death signal, so none outlives this test session even if pytest is killed.
    """
    logs = tmp_path_factory.mktemp("node")
    started: list[NodeServer] = []

    def start(script: str, *args: str) -> NodeServer:
        log = logs / f"{Path(script).stem}-{len(started)}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(
                [node(), script, *args],
                cwd=FEDERATION,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                start_new_session=True,
                preexec_fn=pdeathsig_preexec(),
            )
        server = NodeServer(process, "", log)
        started.append(server)
        server.url = _ready_url(server)
        return server

    yield start
    for server in reversed(started):
        _stop(server.process)
    leftovers = [s.log.name for s in started if s.process.poll() is None]
    assert not leftovers, f"Node processes left running: {leftovers}"


def _ready_url(server: NodeServer) -> str:
    # Read the raw pipe: select() on a buffered text stream misses lines already pulled into its buffer.
    assert server.process.stdout is not None
    fd = server.process.stdout.fileno()
    pending = b""
    deadline = time.monotonic() + READY_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        if server.process.poll() is not None:
            pytest.fail(f"{server.log.name} exited ({server.process.returncode}):\n{server.log.read_text()[-3000:]}")
        readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if readable:
            pending += os.read(fd, 65536)
            for line in pending.decode(errors="replace").splitlines():
                if line.startswith("ready "):
                    return line.split(maxsplit=1)[1].strip()
    pytest.fail(
        f"{server.log.name} did not report ready within {READY_TIMEOUT:.0f} s:\n{server.log.read_text()[-3000:]}"
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    if process.stdout is not None:
        process.stdout.close()
