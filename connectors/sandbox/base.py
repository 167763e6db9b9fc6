"""What every sandbox upstream shares: OAuth2 client credentials, injectable faults, rate limits, latency,
call counting, the control endpoints and a runner on a loopback port.

Faults are switched on at run time — from Python (`state.inject(Fault(...))`) or over HTTP
(`PUT /_sandbox/fault` with the same fields as JSON): `error_500`, `rate_limit_429` (with Retry-After),
`latency`, `hang` (accept, never answer), `garbage_json`, `wrong_schema`, `auth_failure` — on the API, the
token endpoint or both, for the next N requests or until cleared. Besides the deterministic faults, a
sandbox can add base latency with jitter and fail a share of requests at random (`latency`, `error_rate`,
from a seeded generator): what a demo needs to look like a real upstream on a bad day.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self
from urllib.parse import unquote_plus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_HANG",
    "Fault",
    "SandboxServer",
    "UpstreamState",
    "apply_fault",
    "authorised",
    "control_routes",
    "problem",
    "token_handler",
    "unauthorised",
]

JSON = "application/json"
MAX_HANG = 120.0  # seconds; a hung request is also released when the sandbox stops

FaultMode = Literal["error_500", "rate_limit_429", "latency", "hang", "garbage_json", "wrong_schema", "auth_failure"]


class Fault(BaseModel):
    """A fault to inject. ``times`` counts affected requests (None: until cleared)."""

    model_config = ConfigDict(extra="forbid")

    mode: FaultMode
    target: Literal["api", "token", "all"] = "api"
    times: int | None = Field(None, ge=1)
    latency: float = Field(0.5, ge=0, le=MAX_HANG, description="seconds, for mode latency")
    retry_after: int = Field(1, ge=0, description="seconds, for mode rate_limit_429")


@dataclass
class UpstreamState:
    """Credentials, faults, limits and counters of one sandbox upstream."""

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_lifetime: int = 3600
    rate_limit: int | None = None  # API requests per second; None: unlimited
    latency: float = 0.0  # seconds added to every API answer (0..2x jitter)
    error_rate: float = 0.0  # share of API requests answered 500 at random
    seed: int = 7
    fault: Fault | None = None
    calls: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _window: tuple[int, int] = (0, 0)  # (second, requests in it)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def inject(self, fault: Fault) -> None:
        self.fault = fault

    def clear(self) -> None:
        self.fault = None

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def reset(self) -> None:
        self.fault = None
        self.calls.clear()
        self.tokens.clear()
        self.peak_in_flight = 0

    def take_fault(self, target: Literal["api", "token"]) -> Fault | None:
        fault = self.fault
        if fault is None or fault.target not in (target, "all"):
            if target == "api" and self.error_rate and self._rng.random() < self.error_rate:
                return Fault(mode="error_500")
            return None
        if fault.times is not None:
            remaining = fault.times - 1
            self.fault = fault.model_copy(update={"times": remaining}) if remaining > 0 else None
        return fault

    def over_rate_limit(self) -> bool:
        if self.rate_limit is None:
            return False
        second = int(time.monotonic())
        start, count = self._window
        count = count + 1 if start == second else 1
        self._window = (second, count)
        return count > self.rate_limit

    async def base_latency(self) -> None:
        if self.latency > 0:
            await self.wait(self._rng.uniform(0, 2 * self.latency))

    async def wait(self, seconds: float) -> None:
        """Sleep, cut short when the sandbox stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), seconds)

    def entered(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def left(self) -> None:
        self.in_flight -= 1


def problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"status": status, "message": message, **extra}, status=status)


def unauthorised() -> web.Response:
    return web.json_response(
        {"status": 401, "message": "Invalid access token"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def rate_limited(retry_after: int = 1) -> web.Response:
    return web.json_response(
        {"status": 429, "message": "Too many requests"}, status=429, headers={"Retry-After": str(retry_after)}
    )


async def apply_fault(fault: Fault | None, state: UpstreamState, wrong: Any) -> web.StreamResponse | None:
    """The response a fault dictates, or None to answer normally (after any injected latency)."""
    if fault is None:
        return None
    match fault.mode:
        case "error_500":
            return problem(500, "Internal server error")
        case "rate_limit_429":
            return rate_limited(fault.retry_after)
        case "latency":
            await state.wait(fault.latency)
            return None
        case "hang":
            await state.wait(MAX_HANG)
            return problem(503, "Service unavailable")
        case "garbage_json":
            return web.Response(body=b'{"results": {"id": "abc", "headline": "Sen\x00\xff', content_type=JSON)
        case "wrong_schema":
            return web.json_response(wrong)
        case "auth_failure":
            return web.json_response({"error": "invalid_client"}, status=401, headers={"WWW-Authenticate": "Bearer"})
    return None


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote_plus(user), unquote_plus(password)  # RFC 6749 §2.3.1
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    return (client_id, client_secret) if client_id and client_secret else None


def token_handler(key: web.AppKey[Any]) -> Callable[[web.Request], Any]:
    """`POST <token url>`: the OAuth2 client-credentials grant (client by HTTP Basic or form fields)."""

    async def token(request: web.Request) -> web.StreamResponse:
        state: UpstreamState = request.app[key]
        state.calls["token"] += 1
        faulty = await apply_fault(state.take_fault("token"), state, {"token": "not-a-token-response"})
        if faulty is not None:
            return faulty
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        credentials = _client_credentials(request, form)
        if credentials is None or not (
            secrets.compare_digest(credentials[0], state.client_id)
            and secrets.compare_digest(credentials[1], state.client_secret)
        ):
            return web.json_response({"error": "invalid_client"}, status=401, headers={"WWW-Authenticate": "Basic"})
        access_token = secrets.token_urlsafe(24)
        state.tokens[access_token] = time.monotonic() + state.token_lifetime
        return web.json_response(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": state.token_lifetime}
        )

    return token


def authorised(request: web.Request, state: UpstreamState) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    expiry = state.tokens.get(header[7:])
    return expiry is not None and time.monotonic() < expiry


def control_routes(key: web.AppKey[Any], describe: Callable[[Any], dict[str, Any]]) -> list[web.RouteDef]:
    """`/_sandbox/...` endpoints (not counted as calls): state, faults, reset, token revocation."""

    async def get_state(request: web.Request) -> web.StreamResponse:
        state: UpstreamState = request.app[key]
        return web.json_response(
            {
                "calls": dict(state.calls),
                "peak_in_flight": state.peak_in_flight,
                "fault": state.fault.model_dump() if state.fault else None,
                **describe(state),
            }
        )

    async def put_fault(request: web.Request) -> web.StreamResponse:
        try:
            fault = Fault.model_validate_json(await request.read())
        except ValidationError as exc:
            return problem(400, "invalid fault", errors=[e["msg"] for e in exc.errors()])
        request.app[key].inject(fault)
        return web.Response(status=204)

    async def delete_fault(request: web.Request) -> web.StreamResponse:
        request.app[key].clear()
        return web.Response(status=204)

    async def post_reset(request: web.Request) -> web.StreamResponse:
        request.app[key].reset()
        return web.Response(status=204)

    async def post_revoke(request: web.Request) -> web.StreamResponse:
        request.app[key].revoke_tokens()
        return web.Response(status=204)

    return [
        web.get("/_sandbox/state", get_state),
        web.put("/_sandbox/fault", put_fault),
        web.delete("/_sandbox/fault", delete_fault),
        web.post("/_sandbox/reset", post_reset),
        web.post("/_sandbox/revoke-tokens", post_revoke),
    ]


def release_on_shutdown(app: web.Application, key: web.AppKey[Any]) -> None:
    async def release_hung(app: web.Application) -> None:
        app[key].release.set()

    app.on_shutdown.append(release_hung)


class SandboxServer:
    """Run a sandbox app on a loopback port inside the current event loop (tests, benchmarks, the demo)."""

    def __init__(
        self, app_factory: Callable[[Any], web.Application], state: UpstreamState, *, host: str, port: int
    ) -> None:
        self._factory = app_factory
        self.state = state
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        runner = web.AppRunner(self._factory(self.state), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def close(self) -> None:
        if self._runner is not None:
            self.state.release.set()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
