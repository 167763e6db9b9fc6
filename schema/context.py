"""The per-request context: who is asking, what they may see, this request's DataLoaders and reads."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as _Info

from graph.audit import AuditTrail
from graph.driver import Graph
from schema.connectors.loaders import ConnectorRequest
from schema.events import EventBus
from schema.loaders import Loaders
from schema.policy import DENY, Access
from schema.principal import Principal


@dataclass(slots=True)
class Context:
    graph: Graph
    principal: Principal | None = None
    access: Access = DENY
    verified: bool = False  # strong authentication and identity confidence (policy's verified_identity)
    request_id: str = ""
    request: Any = None
    connectors: ConnectorRequest | None = None  # this request's connector loaders (None: no connectors)
    events: EventBus | None = None  # live events (schema.events); None: nothing is published
    audit: AuditTrail | None = None  # for reads that leave outside an HTTP response (subscription emissions)
    connection_params: dict[str, Any] | None = None  # a WebSocket's connection_init payload (graphql-transport-ws)
    linker: Any = None  # real-time identity resolution (schema.identity.matching.Matcher; issue 12)
    loaders: Loaders = field(init=False)
    # Personal fields read in this request, by person id: what the audit trail records.
    reads: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        # New loaders per request: their caches must never serve one caller's data to another.
        self.loaders = Loaders(self.graph)


Info = _Info[Context, None]
