"""The hub's schema as an Apollo Federation 2 subgraph (Strawberry's federation schema, Federation 2.11).

Strawberry adds `_service` and `_entities` and prints `@link` / `@key`. This subclass:

- answers a malformed representation (not an object, or not an entity of this subgraph) with a coded
  error in its own slot, where Strawberry would fail the whole list with an internal error;
- keeps `as_str()` the API clients code against (`hub schema`), and gives the subgraph SDL from
  `subgraph_sdl()` (`hub schema --federation`, `_service`), optionally with Router authorization
  directives (`schema.federation.authorization`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, cast

import strawberry.federation
from strawberry.federation.schema import FederationAny
from strawberry.printer import print_schema
from strawberry.types import Info

from schema.errors import HubError
from schema.federation.authorization import with_auth_directives
from schema.federation.sdl import api_sdl


class HubSchema(strawberry.federation.Schema):
    def __init__(self, *args: Any, auth_directives: bool = False, **kwargs: Any) -> None:
        self.auth_directives = auth_directives
        self._subgraph_sdl: str | None = None
        super().__init__(*args, **kwargs)

    def as_str(self) -> str:
        """The API's SDL: what clients code against, without federation plumbing (`schema.federation.sdl`)."""
        return api_sdl(self._schema)

    def subgraph_sdl(self) -> str:
        """The subgraph SDL a gateway composes (`_service { sdl }`), rendered once."""
        if self._subgraph_sdl is None:
            sdl = print_schema(self)
            self._subgraph_sdl = with_auth_directives(sdl) if self.auth_directives else sdl
        return self._subgraph_sdl

    @cached_property
    def entity_types(self) -> frozenset[str]:
        union = self._schema.get_type("_Entity")
        return frozenset(t.name for t in getattr(union, "types", ()))

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[FederationAny]:
        results: list[object] = [None] * len(representations)
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, representation in enumerate(representations):
            if isinstance(representation, dict) and representation.get("__typename") in self.entity_types:
                valid.append((index, dict(representation)))
            else:
                results[index] = HubError(
                    f"representations[{index}] is not an entity of this subgraph: expected an object whose "
                    f"__typename is one of {', '.join(sorted(self.entity_types))}",
                    "BAD_USER_INPUT",
                )
        resolved = super().entities_resolver(info, [cast(FederationAny, r) for _, r in valid])
        for (index, _), value in zip(valid, resolved, strict=True):
            results[index] = value
        return cast(list[FederationAny], results)
