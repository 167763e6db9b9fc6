"""Real HTTP: a hub app served by uvicorn on a free loopback port, in its own thread and event loop.

Two of these over the same graph and Valkey are two replicas, as far as anything can tell.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook

from hub.app import create_app
from hub.settings import Settings


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Serve a fresh app for `settings`; yields its base URL (http://127.0.0.1:<port>)."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test hub did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@contextmanager
def webhook_secret(connector: str) -> Iterator[str]:
    """A fresh signing secret for `connector`, in the environment (where the hub reads it) while in use."""
    name = f"HUB_WEBHOOK_SECRET_{connector.upper()}"
    previous = os.environ.get(name)
    os.environ[name] = value = new_secret()
    try:
        yield value
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def payment_body(case_id: str, amount: int, reference: str, paid_at: datetime | None = None) -> bytes:
    data = {
        "caseId": case_id,
        "amountPencePaid": amount,
        "paidAt": (paid_at or datetime.now(UTC)).isoformat(),
        "reference": reference,
    }
    return json.dumps({"type": "payment.received", "timestamp": datetime.now(UTC).isoformat(), "data": data}).encode()


def signed(secret: str, webhook_id: str, body: bytes, at: datetime | None = None) -> dict[str, Any]:
    """Standard Webhooks headers for `body`, signed with the sender's library."""
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode()),
        "content-type": "application/json",
    }


def hub_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a `hub serve` process attached to the test session's graph and cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "HUB_")) and k != "REDIS_URL"}
    env.update(
        {
            "NEO4J_URI": str(settings.neo4j_uri),
            "NEO4J_USER": settings.neo4j_user,
            "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value() if settings.neo4j_password else "",
            "NEO4J_DATABASE": settings.neo4j_database or "",
            "REDIS_URL": str(settings.redis_url),
            "HUB_AUTH_JWKS_FILE": str(settings.auth_jwks_file),
            "HUB_AUTH_ISSUER": settings.auth_issuer,
            "HUB_GRAPH_MAX_RETRY_TIME": "1",
            "HUB_LOG_LEVEL": "WARNING",
        }
    )
    env.update({k: v for k, v in os.environ.items() if k.startswith("HUB_WEBHOOK_SECRET_")})
    env.update(extra)
    return env


@contextmanager
def hub_process(settings: Settings, **extra_env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `hub serve` child process on a free loopback port; yields (process, base URL) once ready.

    Killed (SIGKILL) on exit if still running, so a test can also kill it on purpose first.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = hub_env(settings, HUB_PORT=str(port), **extra_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hub serve exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hub serve did not become ready")
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
