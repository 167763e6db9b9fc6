"""Naive per-object resolvers: the baseline a textbook Strawberry app starts from (bench only).

    NEO4J_URI=… NEO4J_USER=… NEO4J_PASSWORD=… NEO4J_DATABASE=hub python -m bench.naive --port P

The caseworker query's types, where every object resolves every relation field with its own graph
round trip for that one object (no DataLoader, no look-ahead, no parser or validation cache), through
the same repository functions the hub uses (`graph.person.get_people`, `graph.household.households_of`)
with a one-element batch. No auth, policy or audit either: this server does strictly less than the hub.
`bench/run.py` starts it as a subprocess and measures it beside the hub, the floor and the peer.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.asgi import GraphQL

from graph.driver import Graph
from graph.household import EMPTY_HOUSEHOLD, Household, households_of
from graph.models import Person as PersonModel
from graph.person import get_people


async def _household(graph: Graph, person_id: str) -> Household:
    [found] = await households_of(graph, [person_id])
    return found or EMPTY_HOUSEHOLD


@strawberry.type
class Address:
    line1: str | None
    town: str | None
    postcode: str | None


@strawberry.type
class Residence:
    from_: date | None = strawberry.field(name="from")
    to: date | None
    address: Address | None


@strawberry.type
class Claim:
    id: strawberry.ID
    type: str | None
    status: str | None
    amount_pence: int | None
    start_date: date | None


@strawberry.type
class Person:
    id: strawberry.ID
    nino: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None

    @classmethod
    def of(cls, p: PersonModel) -> Person:
        return cls(
            id=strawberry.ID(p.id),
            nino=p.nino,
            given_name=p.given_name,
            family_name=p.family_name,
            date_of_birth=p.date_of_birth,
        )

    @strawberry.field
    async def partner(self, info: strawberry.Info) -> Person | None:
        partners = (await _household(info.context["graph"], self.id)).partners
        return Person.of(partners[0]) if partners else None

    @strawberry.field
    async def children(self, info: strawberry.Info) -> list[Person]:
        return [Person.of(p) for p in (await _household(info.context["graph"], self.id)).children]

    @strawberry.field
    async def parents(self, info: strawberry.Info) -> list[Person]:
        return [Person.of(p) for p in (await _household(info.context["graph"], self.id)).parents]

    @strawberry.field
    async def claims(self, info: strawberry.Info) -> list[Claim]:
        claims = (await _household(info.context["graph"], self.id)).claims
        return [
            Claim(id=c.id, type=c.type, status=c.status, amount_pence=c.amount_pence, start_date=c.start_date)
            for c in claims
        ]

    @strawberry.field
    async def address(self, info: strawberry.Info) -> Address | None:
        for r in (await _household(info.context["graph"], self.id)).residences:
            if r.to_date is None:
                return Address(line1=r.address.line1, town=r.address.town, postcode=r.address.postcode)
        return None

    @strawberry.field
    async def address_history(self, info: strawberry.Info) -> list[Residence]:
        return [
            Residence(
                from_=r.from_date,
                to=r.to_date,
                address=Address(line1=r.address.line1, town=r.address.town, postcode=r.address.postcode),
            )
            for r in (await _household(info.context["graph"], self.id)).residences
        ]


@strawberry.type
class Query:
    @strawberry.field
    async def person(self, info: strawberry.Info, id: strawberry.ID) -> Person | None:
        [found] = await get_people(info.context["graph"], [str(id)])
        return Person.of(found) if found else None


class NaiveGraphQL(GraphQL):  # type: ignore[type-arg]
    async def get_context(self, request: Request, response: object = None) -> dict[str, object]:
        return {"graph": request.app.state.graph}


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        env = os.environ
        app.state.graph = Graph.connect(
            env["NEO4J_URI"], env.get("NEO4J_USER", "neo4j"), env.get("NEO4J_PASSWORD", ""), env.get("NEO4J_DATABASE")
        )
        try:
            yield
        finally:
            await app.state.graph.close()

    schema = strawberry.Schema(query=Query)
    return Starlette(routes=[Route("/graphql", NaiveGraphQL(schema), methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()
