"""The social-profile sandbox itself: runnable on its own, controllable over HTTP, deterministic."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.sandbox import Fault, SocialSandbox, profile_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "sandbox.log").open("wb")
    env = {**os.environ, "SOCIAL_SANDBOX_CLIENT_ID": "cli-client", "SOCIAL_SANDBOX_CLIENT_SECRET": "cli-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "--port", str(port), "--token-lifetime", "60"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (tmp_path / "sandbox.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the sandbox did not start listening"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    assert "social-profile sandbox on" in (tmp_path / "sandbox.log").read_text()


async def _token(session: aiohttp.ClientSession, url: str, client: str, secret: str) -> dict[str, Any]:
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    async with session.post(
        f"{url}/oauth/v2/accessToken",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def test_runs_standalone_and_is_controlled_over_http(standalone: str, session: aiohttp.ClientSession) -> None:
    token = await _token(session, standalone, "cli-client", "cli-secret")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 60
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    async with session.get(f"{standalone}/v1/profiles?ids=alice,missing-1", headers=bearer) as response:
        body = await response.json()
    assert body["results"]["alice"] == profile_for("alice")
    assert body["errors"]["missing-1"]["status"] == 404

    async with session.put(f"{standalone}/_sandbox/fault", json={"mode": "rate_limit_429", "retry_after": 3}) as r:
        assert r.status == 204
    async with session.get(f"{standalone}/v1/profiles/alice", headers=bearer) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "3"
    async with session.put(f"{standalone}/_sandbox/fault", json={"mode": "explode"}) as r:
        assert r.status == 400
    async with session.delete(f"{standalone}/_sandbox/fault") as r:
        assert r.status == 204
    async with session.get(f"{standalone}/v1/profiles/alice", headers=bearer) as response:
        assert response.status == 200
    async with session.get(f"{standalone}/_sandbox/state") as response:
        state = await response.json()
    assert state["calls"] == {"token": 1, "batch": 1, "profile": 2} and state["batch_sizes"] == [2]

    async with session.post(f"{standalone}/_sandbox/revoke-tokens") as r:
        assert r.status == 204
    async with session.get(f"{standalone}/v1/profiles/alice", headers=bearer) as response:
        assert response.status == 401 and "invalid_token" in response.headers["WWW-Authenticate"]


async def test_the_api_enforces_oauth_and_its_limits(sandbox: SocialSandbox, session: aiohttp.ClientSession) -> None:
    url = sandbox.url
    async with session.get(f"{url}/v1/profiles/alice") as response:
        assert response.status == 401
    async with session.post(f"{url}/oauth/v2/accessToken", data={"grant_type": "password"}) as response:
        assert response.status == 400 and (await response.json())["error"] == "unsupported_grant_type"
    async with session.post(
        f"{url}/oauth/v2/accessToken",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.state.client_id,
            "client_secret": sandbox.state.client_secret,
        },
    ) as response:
        token = (await response.json())["access_token"]  # client credentials in the form work too
    bearer = {"Authorization": f"Bearer {token}"}
    ids = ",".join(f"p{i}" for i in range(101))
    async with session.get(f"{url}/v1/profiles?ids={ids}", headers=bearer) as response:
        assert response.status == 400
    async with session.get(f"{url}/v1/profiles", headers=bearer) as response:
        assert response.status == 400
    async with session.get(f"{url}/v1/profiles/missing-9", headers=bearer) as response:
        assert response.status == 404


def test_fake_profiles_are_deterministic_and_plausible() -> None:
    alice = profile_for("alice")
    assert alice == profile_for("alice") and alice != profile_for("bob")
    assert alice is not None
    assert sum(p["isCurrent"] for p in alice["positions"]) == 1
    assert alice["headline"].endswith(alice["positions"][0]["company"]["name"])
    assert alice["lastActiveAt"].endswith("Z") and alice["connectionsCount"] >= 0
    assert profile_for("missing-anything") is None


async def test_a_hung_request_is_released_when_the_sandbox_stops(session: aiohttp.ClientSession) -> None:
    sandbox = await SocialSandbox().start()
    sandbox.state.inject(Fault(mode="hang", target="token"))
    request = asyncio.create_task(session.post(f"{sandbox.url}/oauth/v2/accessToken"))
    while sandbox.state.calls["token"] == 0:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await sandbox.close()
    assert time.monotonic() - started < 2.0
    response = await request
    assert response.status == 503
    response.release()


def test_the_payments_sandbox_runs_alone_and_pushes_signed_payments(tmp_path: Path) -> None:
    """`python -m connectors.sandbox --kind payments --push-every`: mandates over HTTP, then signed pushes that a
    Standard Webhooks receiver verifies (a stand-in hub on loopback, checking what hub.webhooks checks)."""
    import threading
    import uuid
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            received.append(Webhook(secret).verify(body, headers))  # raises if the signature is wrong
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    port = free_port()
    log = (tmp_path / "payments.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "--kind", "payments", "--port", str(port), "--push-every", "0.2",
         "--hub-url", f"http://127.0.0.1:{hub.server_address[1]}/webhooks/bank_payments", "--webhook-secret", secret],
        cwd=REPO_ROOT, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        case_id = str(uuid.uuid4())

        async def mandate() -> None:
            async with aiohttp.ClientSession() as session:
                deadline = time.monotonic() + 15
                while True:
                    try:
                        async with session.post(
                            f"http://127.0.0.1:{port}/_sandbox/mandates",
                            json={"account": "acc-1", "caseId": case_id, "monthlyPence": 2500},
                        ) as response:
                            assert response.status == 204
                            return
                    except aiohttp.ClientConnectionError:
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.1)

        asyncio.run(mandate())
        deadline = time.monotonic() + 15
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        hub.shutdown()
        hub.server_close()
    assert received, (tmp_path / "payments.log").read_text()
    event = received[0]
    assert event["type"] == "payment.received" and event["data"]["caseId"] == case_id
    assert event["data"]["amountPencePaid"] == 2500
