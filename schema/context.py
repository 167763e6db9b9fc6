"""The per-request context: the shared graph handle and this request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as _Info

from graph.driver import Graph
from schema.loaders import Loaders


@dataclass(slots=True)
class Context:
    graph: Graph
    loaders: Loaders = field(init=False)
    request: Any = None

    def __post_init__(self) -> None:
        # New loaders per request: their caches must never serve one caller's data to another.
        self.loaders = Loaders(self.graph)


Info = _Info[Context, None]
