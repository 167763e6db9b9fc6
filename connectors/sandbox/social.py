"""A sandbox of the social-network profile API: a real HTTP server with OAuth2, batches and injectable faults.

It behaves like the real thing so the connector is tested end to end with no patched functions:

* `POST /oauth/v2/accessToken` — client-credentials grant (client authenticated by HTTP Basic or form
  fields); tokens expire after `token_lifetime` seconds and can be revoked early;
* `GET /v1/profiles/{id}` and `GET /v1/profiles?ids=a,b,c` (at most 100) — bearer token required; profiles
  are fake but deterministic per id (the same id always yields the same profile); ids starting with
  `missing` do not exist;
* an optional real rate limit (requests per second → 429 with `Retry-After`);
* faults switched on at run time — from Python (`state.inject(Fault(...))`) or over HTTP
  (`PUT /_sandbox/fault` with the same fields as JSON): `error_500`, `rate_limit_429` (with Retry-After),
  `latency`, `hang` (accept, never answer), `garbage_json`, `wrong_schema`, `auth_failure` — on the API,
  the token endpoint or both, for the next N requests or until cleared;
* counters: calls per endpoint, the ids of every batch, the peak of concurrent API requests
  (`GET /_sandbox/state`), so tests can assert how many upstream calls were really made.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self
from urllib.parse import unquote_plus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["STATE", "Fault", "SandboxState", "SocialSandbox", "create_app", "profile_for"]

MAX_IDS = 100
MAX_HANG = 120.0  # seconds; a hung request is also released when the sandbox stops
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)  # "now" for the fake data, so profiles never change between runs

_TITLES = (
    "Software Engineer",
    "Care Assistant",
    "Electrician",
    "Accountant",
    "Nurse",
    "Teacher",
    "Warehouse Operative",
    "Project Manager",
    "Chef",
    "HGV Driver",
    "Data Analyst",
    "Retail Manager",
    "Plumber",
    "Social Worker",
)
_EMPLOYERS = (
    "Northwind Logistics",
    "Acme Health Ltd",
    "Brightwater Foods",
    "Castle Engineering",
    "Harbour Retail",
    "Pennine Care Group",
    "Meridian Software",
    "Oakfield Academy Trust",
    "Redbrick Builders",
    "Lumen Energy",
)
_PLACES = (
    "Leeds",
    "Manchester",
    "Bristol",
    "Glasgow",
    "Cardiff",
    "Newcastle upon Tyne",
    "Birmingham",
    "Norwich",
    "Belfast",
    "Sheffield",
    "Plymouth",
    "Leicester",
)
_NATIONS = {"Glasgow": "Scotland", "Cardiff": "Wales", "Belfast": "Northern Ireland"}

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
class SandboxState:
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_lifetime: int = 3600
    rate_limit: int | None = None  # API requests per second; None: unlimited
    fault: Fault | None = None
    calls: Counter[str] = field(default_factory=Counter)
    batches: list[list[str]] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _window: tuple[int, int] = (0, 0)  # (second, requests in it)

    def inject(self, fault: Fault) -> None:
        self.fault = fault

    def clear(self) -> None:
        self.fault = None

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def reset(self) -> None:
        self.fault = None
        self.calls.clear()
        self.batches.clear()
        self.tokens.clear()
        self.peak_in_flight = 0

    @property
    def api_calls(self) -> int:
        return self.calls["profile"] + self.calls["batch"]

    def take_fault(self, target: Literal["api", "token"]) -> Fault | None:
        fault = self.fault
        if fault is None or fault.target not in (target, "all"):
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


STATE = web.AppKey("sandbox_state", SandboxState)


def profile_for(profile_id: str) -> dict[str, Any] | None:
    """The deterministic fake profile document for ``profile_id`` (None for ids starting with "missing")."""
    if profile_id.startswith("missing"):
        return None
    rng = random.Random(int.from_bytes(hashlib.sha256(profile_id.encode()).digest()[:8], "big"))
    title, employer = rng.choice(_TITLES), rng.choice(_EMPLOYERS)
    place = rng.choice(_PLACES)
    previous = [e for e in _EMPLOYERS if e != employer]
    positions = [
        {
            "title": title,
            "company": {"name": employer},
            "isCurrent": True,
            "startedOn": f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}",
        }
    ]
    positions += [
        {"title": rng.choice(_TITLES), "company": {"name": rng.choice(previous)}, "isCurrent": False}
        for _ in range(rng.randint(0, 2))
    ]
    last_active = _EPOCH - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
    return {
        "id": profile_id,
        "headline": f"{title} at {employer}",
        "positions": positions,
        "location": {"name": f"{place}, {_NATIONS.get(place, 'England')}, United Kingdom", "countryCode": "GB"},
        "connectionsCount": rng.choice((rng.randint(0, 150), rng.randint(150, 500), 500 + rng.randint(0, 2000))),
        "lastActiveAt": last_active.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --------------------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------------------


def _problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"status": status, "message": message, **extra}, status=status)


async def _apply(fault: Fault | None, state: SandboxState, wrong: Any) -> web.StreamResponse | None:
    """The response a fault dictates, or None to answer normally (after any injected latency)."""
    if fault is None:
        return None
    match fault.mode:
        case "error_500":
            return _problem(500, "Internal server error")
        case "rate_limit_429":
            return web.json_response(
                {"status": 429, "message": "Too many requests"},
                status=429,
                headers={"Retry-After": str(fault.retry_after)},
            )
        case "latency":
            with contextlib.suppress(TimeoutError):  # the sandbox stopping cuts the delay short
                await asyncio.wait_for(state.release.wait(), fault.latency)
            return None
        case "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.release.wait(), MAX_HANG)
            return _problem(503, "Service unavailable")
        case "garbage_json":
            return web.Response(
                body=b'{"results": {"id": "abc", "headline": "Sen\x00\xff', content_type="application/json"
            )
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


async def token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.calls["token"] += 1
    faulty = await _apply(state.take_fault("token"), state, {"token": "not-a-token-response"})
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
    return web.json_response({"access_token": access_token, "token_type": "Bearer", "expires_in": state.token_lifetime})


def _authorised(request: web.Request, state: SandboxState) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    expiry = state.tokens.get(header[7:])
    return expiry is not None and time.monotonic() < expiry


async def _api(request: web.Request, endpoint: str, ids: list[str]) -> web.StreamResponse:
    state = request.app[STATE]
    state.calls[endpoint] += 1
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        if endpoint == "batch":
            state.batches.append(ids)
        wrong_profiles = {i: {"id": i, "headline": ["not", "text"], "connectionsCount": "lots"} for i in ids}
        wrong: Any = wrong_profiles[ids[0]] if endpoint == "profile" else {"results": wrong_profiles}
        faulty = await _apply(state.take_fault("api"), state, wrong)
        if faulty is not None:
            return faulty
        if not _authorised(request, state):
            return web.json_response(
                {"status": 401, "message": "Invalid access token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if state.over_rate_limit():
            return web.json_response(
                {"status": 429, "message": "Too many requests"}, status=429, headers={"Retry-After": "1"}
            )
        if endpoint == "profile":
            profile = profile_for(ids[0])
            return web.json_response(profile) if profile is not None else _problem(404, "Profile not found")
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for profile_id in dict.fromkeys(ids):
            profile = profile_for(profile_id)
            if profile is None:
                errors[profile_id] = {"status": 404, "message": "Profile not found"}
            else:
                results[profile_id] = profile
        return web.json_response({"results": results, "errors": errors})
    finally:
        state.in_flight -= 1


async def profile(request: web.Request) -> web.StreamResponse:
    return await _api(request, "profile", [request.match_info["id"]])


async def batch(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if not ids:
        return _problem(400, "ids is required: /v1/profiles?ids=a,b,c")
    if len(ids) > MAX_IDS:
        return _problem(400, f"at most {MAX_IDS} ids per request")
    return await _api(request, "batch", ids)


# -- control endpoints (not counted as calls) --------------------------------------------------------------


async def get_state(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return web.json_response(
        {
            "calls": dict(state.calls),
            "batch_sizes": [len(b) for b in state.batches],
            "peak_in_flight": state.peak_in_flight,
            "fault": state.fault.model_dump() if state.fault else None,
        }
    )


async def put_fault(request: web.Request) -> web.StreamResponse:
    try:
        fault = Fault.model_validate_json(await request.read())
    except ValidationError as exc:
        return _problem(400, "invalid fault", errors=[e["msg"] for e in exc.errors()])
    request.app[STATE].inject(fault)
    return web.Response(status=204)


async def delete_fault(request: web.Request) -> web.StreamResponse:
    request.app[STATE].clear()
    return web.Response(status=204)


async def post_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].reset()
    return web.Response(status=204)


async def post_revoke(request: web.Request) -> web.StreamResponse:
    request.app[STATE].revoke_tokens()
    return web.Response(status=204)


def create_app(state: SandboxState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state if state is not None else SandboxState()

    async def release_hung(app: web.Application) -> None:
        app[STATE].release.set()

    app.on_shutdown.append(release_hung)
    app.add_routes(
        [
            web.post("/oauth/v2/accessToken", token),
            web.get("/v1/profiles", batch),
            web.get("/v1/profiles/{id}", profile),
            web.get("/_sandbox/state", get_state),
            web.put("/_sandbox/fault", put_fault),
            web.delete("/_sandbox/fault", delete_fault),
            web.post("/_sandbox/reset", post_reset),
            web.post("/_sandbox/revoke-tokens", post_revoke),
        ]
    )
    return app


class SocialSandbox:
    """Run the sandbox on a loopback port inside the current event loop (tests, benchmarks, the demo)."""

    def __init__(self, state: SandboxState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state if state is not None else SandboxState()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        runner = web.AppRunner(create_app(self.state), access_log=None, handle_signals=False, shutdown_timeout=2.0)
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
