"""A sandbox of the social-network profile API: a real HTTP server with OAuth2, batches and injectable faults.

It behaves like the real thing so the connector is tested end to end with no patched functions:

* `POST /oauth/v2/accessToken` — client-credentials grant (client authenticated by HTTP Basic or form
  fields); tokens expire after `token_lifetime` seconds and can be revoked early;
* `GET /v1/profiles/{id}` and `GET /v1/profiles?ids=a,b,c` (at most 100) — bearer token required; profiles
  are fake but deterministic per id (the same id always yields the same profile); ids starting with
  `missing` do not exist;
* an optional real rate limit (requests per second → 429 with `Retry-After`);
* faults, latency and random errors injected at run time (`connectors.sandbox.base`);
* counters: calls per endpoint, the ids of every batch, the peak of concurrent API requests
  (`GET /_sandbox/state`), so tests can assert how many upstream calls were really made.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from connectors.sandbox.base import (
    Fault,
    SandboxServer,
    UpstreamState,
    apply_fault,
    authorised,
    control_routes,
    problem,
    rate_limited,
    release_on_shutdown,
    token_handler,
    unauthorised,
)

__all__ = ["STATE", "Fault", "SandboxState", "SocialSandbox", "create_app", "profile_for"]

MAX_IDS = 100
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


@dataclass
class SandboxState(UpstreamState):
    batches: list[list[str]] = field(default_factory=list)

    def reset(self) -> None:
        super().reset()
        self.batches.clear()

    @property
    def api_calls(self) -> int:
        return self.calls["profile"] + self.calls["batch"]


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


async def _api(request: web.Request, endpoint: str, ids: list[str]) -> web.StreamResponse:
    state = request.app[STATE]
    state.calls[endpoint] += 1
    state.entered()
    try:
        if endpoint == "batch":
            state.batches.append(ids)
        wrong_profiles = {i: {"id": i, "headline": ["not", "text"], "connectionsCount": "lots"} for i in ids}
        wrong: Any = wrong_profiles[ids[0]] if endpoint == "profile" else {"results": wrong_profiles}
        faulty = await apply_fault(state.take_fault("api"), state, wrong)
        if faulty is not None:
            return faulty
        if not authorised(request, state):
            return unauthorised()
        if state.over_rate_limit():
            return rate_limited()
        await state.base_latency()
        if endpoint == "profile":
            profile = profile_for(ids[0])
            return web.json_response(profile) if profile is not None else problem(404, "Profile not found")
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
        state.left()


async def profile(request: web.Request) -> web.StreamResponse:
    return await _api(request, "profile", [request.match_info["id"]])


async def batch(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if not ids:
        return problem(400, "ids is required: /v1/profiles?ids=a,b,c")
    if len(ids) > MAX_IDS:
        return problem(400, f"at most {MAX_IDS} ids per request")
    return await _api(request, "batch", ids)


def create_app(state: SandboxState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state if state is not None else SandboxState()
    release_on_shutdown(app, STATE)
    app.add_routes(
        [
            web.post("/oauth/v2/accessToken", token_handler(STATE)),
            web.get("/v1/profiles", batch),
            web.get("/v1/profiles/{id}", profile),
            *control_routes(STATE, lambda s: {"batch_sizes": [len(b) for b in s.batches]}),
        ]
    )
    return app


class SocialSandbox(SandboxServer):
    """The social-profile sandbox on a loopback port inside the current event loop."""

    state: SandboxState

    def __init__(self, state: SandboxState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app, state if state is not None else SandboxState(), host=host, port=port)
