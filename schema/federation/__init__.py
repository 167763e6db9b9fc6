"""Apollo Federation 2: the hub as a subgraph that partner departments compose into their supergraph.

`HubSchema` is the federation schema (`_service`, `_entities`, `@link`, `@key`); `Person` is the entity
(keys `id` and `nino`, resolved in batches through the request's DataLoaders). The field policy applies
to `_entities` as to any other root field (`schema.permissions`). Router authorization directives are
rendered from the same policy units on request (`authorization`).
"""

from __future__ import annotations

from schema.federation.schema import HubSchema
from schema.federation.service import ServiceQuery

__all__ = ["HubSchema", "ServiceQuery"]
