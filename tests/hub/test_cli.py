"""The `hub` command, run as a user runs it: a real process, real servers, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app
from hub.seed import _SLOTS, person_id


def test_schema_prints_sdl() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert "type Person {" in result.output and "createPerson(" in result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def post(port: int, query: str, token: str, purpose: str | None = "child-maintenance") -> dict:  # type: ignore[type-arg]
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    if purpose:
        headers["x-purpose"] = purpose
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(), headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def run_serve(data_dir: Path, port: int, stop: signal.Signals) -> tuple[dict, str]:  # type: ignore[type-arg]
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir), "HUB_PORT": str(port), "HUB_DEMO_PEOPLE": "40"}
    for var in ("NEO4J_URI", "REDIS_URL", "HUB_CONFIG", "HUB_ENV", "HUB_AUTH_JWKS_FILE", "HUB_AUTH_JWKS_URL"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "hub serve did not become ready"
            time.sleep(0.3)
        first = person_id(42, (42 % 100) * 10_000_000 + 0 * _SLOTS)
        # `hub token` and `hub audit verify` attach to the servers this `hub serve` runs.
        staff = hub(env, "token", "--role", "caseworker")
        assert staff.returncode == 0, staff.stderr
        body = post(
            port,
            f'{{ person(id: "{first}") {{ familyName partner {{ familyName }} address {{ postcode }} '
            f"addressHistory {{ from }} claims {{ type }} children {{ parents {{ id }} }} }} }}",
            staff.stdout.strip(),
        )
        citizen = hub(env, "token", "--person", first)
        assert citizen.returncode == 0, citizen.stderr
        me = post(port, "{ me { id accessLog { actorRole purpose } } }", citizen.stdout.strip(), purpose=None)
        assert me["data"]["me"]["id"] == first
        assert {"actorRole": "caseworker", "purpose": "child-maintenance"} in me["data"]["me"]["accessLog"]
        verify = hub(env, "audit", "verify")
        assert verify.returncode == 0 and "intact" in verify.stderr, verify.stderr
        children = descendants(proc.pid)
        assert len(children) >= 2, "the embedded graph and cache run as child processes"
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        deadline = time.monotonic() + 10
        while any(alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if alive(c)], "no process is left behind"
        return body, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_seeds_answers_and_stops_cleanly(tmp_path: Path) -> None:
    body, err = run_serve(tmp_path, free_port(), signal.SIGINT)
    person = body["data"]["person"]
    assert person["familyName"] and person["address"]["postcode"] and person["addressHistory"]
    assert "seeded" in err and "(0 already present)" in err

    # Second start on the same data: the demo seed is found, not written again; SIGTERM is clean too.
    body, err = run_serve(tmp_path, free_port(), signal.SIGTERM)
    assert body["data"]["person"] == person
    assert "seeded 0 people" in err


def test_token_command_is_refused_outside_dev(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_ENV": "production",
        "HUB_AUTH_JWKS_FILE": str(tmp_path / "k"),
    }
    result = hub(env, "token", "--role", "caseworker")
    assert result.returncode == 2 and "local development only" in result.stderr
