"""A sandbox partner department with a GraphQL API (Strawberry on aiohttp), for the `graphql` kind.

`POST /graphql` with a bearer token: `people(ids: [ID!]!): [PartnerPerson]` answers many people in one query
(ids starting with `missing` resolve to null; ids starting with `broken` carry a wrong-typed field).
Every request and the number of ids in each is counted, so a test can prove a batch was one upstream
query; faults, latency, random errors and rate limits come from the shared base.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.scalars import JSON

from connectors.sandbox.base import (
    SandboxServer,
    UpstreamState,
    apply_fault,
    control_routes,
    rate_limited,
    release_on_shutdown,
)

__all__ = ["PARTNER", "PartnerGraphQLSandbox", "PartnerState", "create_app", "partner_person"]


@dataclass
class PartnerState(UpstreamState):
    token: str = "sandbox-partner-token"
    id_counts: list[int] = field(default_factory=list)  # ids asked per query

    @property
    def api_calls(self) -> int:
        return self.calls["graphql"]

    def reset(self) -> None:
        super().reset()
        self.id_counts.clear()


PARTNER = web.AppKey("partner_state", PartnerState)


def partner_person(person_id: str) -> dict[str, Any] | None:
    if person_id.startswith("missing"):
        return None
    n = int.from_bytes(hashlib.sha256(person_id.encode()).digest()[:4], "big")
    return {
        "id": person_id,
        "reference": f"DWP-{n % 100_000:05d}",
        "employment": {
            "employer": ("Castle Engineering", "Acme Health Ltd", "Brightwater Foods")[n % 3],
            "hoursPerWeek": 16 + n % 25 + 0.5,
            "since": date(2015 + n % 10, 1 + n % 12, 1 + n % 28).isoformat(),
        },
        "household": {"adults": 1 + n % 2, "children": n % 4},
        "verified": n % 2 == 0,
    }


@strawberry.type
class Employment:
    employer: str
    hours_per_week: float
    since: date


@strawberry.type
class Household:
    adults: int
    children: JSON  # a JSON scalar, so a "broken" record can carry a wrong type as a real API might


@strawberry.type
class PartnerPerson:
    id: strawberry.ID
    reference: str
    employment: Employment | None
    household: Household | None
    verified: bool


def _person(person_id: str) -> PartnerPerson | None:
    doc = partner_person(person_id)
    if doc is None:
        return None
    employment = doc["employment"]
    children: Any = "several" if person_id.startswith("broken") else doc["household"]["children"]
    return PartnerPerson(
        id=strawberry.ID(doc["id"]),
        reference=doc["reference"],
        employment=Employment(
            employer=employment["employer"],
            hours_per_week=employment["hoursPerWeek"],
            since=date.fromisoformat(employment["since"]),
        ),
        household=Household(adults=doc["household"]["adults"], children=children),
        verified=doc["verified"],
    )


@strawberry.type
class Query:
    @strawberry.field
    def people(self, ids: list[strawberry.ID], info: strawberry.Info) -> list[PartnerPerson | None]:
        info.context["state"].id_counts.append(len(ids))
        return [_person(str(i)) for i in ids]


SCHEMA = strawberry.Schema(query=Query)


class _View(GraphQLView):  # type: ignore[type-arg]
    async def get_context(self, request: web.Request, response: Any) -> dict[str, Any]:
        return {"request": request, "response": response, "state": request.app[PARTNER]}


def create_app(state: PartnerState | None = None) -> web.Application:
    app = web.Application()
    app[PARTNER] = state if state is not None else PartnerState()
    release_on_shutdown(app, PARTNER)
    view = _View(schema=SCHEMA, graphql_ide=None)

    async def graphql(request: web.Request) -> web.StreamResponse:
        state = request.app[PARTNER]
        state.calls["graphql"] += 1
        state.entered()
        try:
            faulty = await apply_fault(state.take_fault("api"), state, {"data": {"people": "not a list"}})
            if faulty is not None:
                return faulty
            if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {state.token}"):
                return web.json_response(
                    {"errors": [{"message": "not authenticated", "extensions": {"code": "UNAUTHENTICATED"}}]},
                    status=401,
                )
            if state.over_rate_limit():
                return rate_limited()
            await state.base_latency()
            response: web.StreamResponse = await view(request)
            return response
        finally:
            state.left()

    app.add_routes(
        [
            web.post("/graphql", graphql),
            *control_routes(PARTNER, lambda s: {"id_counts": list(s.id_counts)}),
        ]
    )
    return app


class PartnerGraphQLSandbox(SandboxServer):
    state: PartnerState

    def __init__(self, state: PartnerState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app, state if state is not None else PartnerState(), host=host, port=port)
