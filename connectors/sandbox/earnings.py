"""A sandbox employer earnings API (RTI-like): pay periods by NINO, single and batched, behind an API key.

* `GET /v1/earnings/{nino}?from=YYYY-MM-DD` — one person's pay periods (404 when none are held);
* `POST /v1/earnings/query` `{"ninos": [...], "from": ...}` — up to 100 people in one call;
* `X-Api-Key` required (401 otherwise); rate limits, latency, random errors and every fault of the base.

Earnings are fake but deterministic per NINO: one or two employers over the last two years, monthly or
four-weekly, gross pay in whole pence. NINOs in `state.unknown` (and keys starting with `missing`) have none.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from connectors.sandbox.base import (
    SandboxServer,
    UpstreamState,
    apply_fault,
    control_routes,
    problem,
    rate_limited,
    release_on_shutdown,
)

__all__ = ["EARNINGS", "EarningsSandbox", "EarningsState", "create_app", "earnings_for"]

MAX_NINOS = 100
_NINO = re.compile(r"^[A-Z]{2}\d{6}[A-D]$")
_EMPLOYERS = (
    ("Northwind Logistics Ltd", "120/NW12345"),
    ("Pennine Care Group", "475/PC99881"),
    ("Harbour Retail plc", "961/HR00042"),
    ("Meridian Software Ltd", "083/MS55120"),
    ("Lumen Energy Ltd", "210/LE77001"),
)


@dataclass
class EarningsState(UpstreamState):
    api_key: str = "sandbox-api-key"
    unknown: set[str] = field(default_factory=set)
    batches: list[int] = field(default_factory=list)  # NINOs per batch call

    @property
    def api_calls(self) -> int:
        return self.calls["earnings"] + self.calls["batch"]

    def reset(self) -> None:
        super().reset()
        self.batches.clear()


EARNINGS = web.AppKey("earnings_state", EarningsState)


def earnings_for(nino: str, state: EarningsState, since: date, today: date | None = None) -> dict[str, Any] | None:
    """The person's pay periods ending on or after ``since`` (None: the API holds no earnings for them)."""
    if nino in state.unknown or nino.startswith("missing"):
        return None
    rng = random.Random(int.from_bytes(hashlib.sha256(nino.encode()).digest()[:8], "big"))
    today = today or datetime.now(UTC).date()
    jobs = rng.sample(_EMPLOYERS, rng.choice((1, 1, 2)))
    periods: list[dict[str, Any]] = []
    end = today.replace(day=1) - timedelta(days=1)  # the last complete month
    changed = today - timedelta(days=rng.randint(60, 500))  # when the second job (if any) began
    monthly = rng.randrange(120_000, 450_000, 1)
    for _ in range(24):
        start = end.replace(day=1)
        employer = jobs[-1] if len(jobs) == 2 and start >= changed else jobs[0]
        if end >= since:
            periods.append(
                {
                    "employer": {"name": employer[0], "payeReference": employer[1]},
                    "periodStart": start.isoformat(),
                    "periodEnd": end.isoformat(),
                    "grossPayPence": monthly + rng.randint(-5_000, 15_000),
                    "paidOn": (end - timedelta(days=rng.randint(0, 3))).isoformat(),
                }
            )
        end = start - timedelta(days=1)
    return {"nino": nino, "periods": periods}


def _authorised(request: web.Request, state: EarningsState) -> bool:
    return secrets.compare_digest(request.headers.get("X-Api-Key", ""), state.api_key)


def _since(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else date(1970, 1, 1)
    except ValueError:
        return None


async def _guard(request: web.Request, endpoint: str, wrong: Any) -> web.StreamResponse | None:
    state = request.app[EARNINGS]
    state.calls[endpoint] += 1
    faulty = await apply_fault(state.take_fault("api"), state, wrong)
    if faulty is not None:
        return faulty
    if not _authorised(request, state):
        return problem(401, "a valid X-Api-Key is required")
    if state.over_rate_limit():
        return rate_limited()
    await state.base_latency()
    return None


async def one(request: web.Request) -> web.StreamResponse:
    state = request.app[EARNINGS]
    state.entered()
    try:
        nino = request.match_info["nino"]
        refused = await _guard(request, "earnings", {"nino": nino, "periods": [{"grossPayPence": 12.5}]})
        if refused is not None:
            return refused
        since = _since(request.query.get("from"))
        if since is None:
            return problem(400, "from must be a date (YYYY-MM-DD)")
        found = earnings_for(nino, state, since)
        return web.json_response(found) if found is not None else problem(404, "No earnings held for that NINO")
    finally:
        state.left()


async def query(request: web.Request) -> web.StreamResponse:
    state = request.app[EARNINGS]
    state.entered()
    try:
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "the body must be JSON")
        ninos = body.get("ninos") if isinstance(body, dict) else None
        if not isinstance(ninos, list) or not ninos or not all(isinstance(n, str) for n in ninos):
            return problem(400, "ninos must be a non-empty list of NINOs")
        if len(ninos) > MAX_NINOS:
            return problem(400, f"at most {MAX_NINOS} NINOs per query")
        wrong = {"results": [{"nino": n, "periods": "none"} for n in ninos]}
        refused = await _guard(request, "batch", wrong)
        if refused is not None:
            return refused
        state.batches.append(len(ninos))
        since = _since(body.get("from"))
        if since is None:
            return problem(400, "from must be a date (YYYY-MM-DD)")
        results, unknown = [], []
        for nino in dict.fromkeys(ninos):
            found = earnings_for(nino, state, since) if _NINO.match(nino) else None
            if found is None:
                unknown.append(nino)
            else:
                results.append(found)
        return web.json_response({"results": results, "unknown": unknown})
    finally:
        state.left()


def create_app(state: EarningsState | None = None) -> web.Application:
    app = web.Application()
    app[EARNINGS] = state if state is not None else EarningsState()
    release_on_shutdown(app, EARNINGS)
    app.add_routes(
        [
            web.get("/v1/earnings/{nino}", one),
            web.post("/v1/earnings/query", query),
            *control_routes(EARNINGS, lambda s: {"batch_sizes": list(s.batches)}),
        ]
    )
    return app


class EarningsSandbox(SandboxServer):
    state: EarningsState

    def __init__(self, state: EarningsState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app, state if state is not None else EarningsState(), host=host, port=port)
