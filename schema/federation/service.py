"""`_service { sdl }`: the subgraph SDL a gateway composes, as the schema renders it for this deployment.

Strawberry's own `_service` prints the schema on every call and knows nothing of the Router
authorization setting; this one answers with `HubSchema.subgraph_sdl()` (rendered once), so the SDL
fetched over HTTP and the one `hub schema --federation` prints are the same text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import strawberry

from schema.context import Info

if TYPE_CHECKING:
    from schema.federation.schema import HubSchema


@strawberry.type(name="_Service")
class Service:
    sdl: str


@strawberry.type
class ServiceQuery:
    @strawberry.field(name="_service")
    def service(self, info: Info) -> Service:
        return Service(sdl=cast("HubSchema", info.schema).subgraph_sdl())
