"""The GraphQL schema (Strawberry), organised by feature; `build_schema` assembles the root."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from connectors.registry import ConnectorSpec
from schema.analytics.queries import AnalyticsQuery
from schema.audit.queries import AuditQuery
from schema.connectors.fields import install
from schema.connectors.mutations import ConnectorMutation
from schema.connectors.stewardship import StewardMutation, StewardQuery
from schema.connectors.warnings import ConnectorWarnings
from schema.context import Context
from schema.errors import ErrorCodes
from schema.export.queries import ExportQuery
from schema.federation import HubSchema, ServiceQuery
from schema.household.mutations import HouseholdMutation
from schema.identity.mutations import IdentityMutation
from schema.identity.queries import IdentityQuery
from schema.limits import cost_limit_rule
from schema.live.subscriptions import LiveSubscription
from schema.live.types import EVENT_TYPES
from schema.maintenance.mutations import MaintenanceMutation
from schema.maintenance.queries import MaintenanceQuery
from schema.maintenance.subscriptions import MaintenanceSubscription
from schema.people.mutations import PeopleMutation
from schema.people.queries import PeopleQuery
from schema.people.types import Person
from schema.permissions import FieldPolicy
from schema.scalars import SCALARS

__all__ = ["Context", "HubSchema", "build_schema"]

Query = merge_types(
    "Query", (PeopleQuery, AuditQuery, ExportQuery, ServiceQuery, MaintenanceQuery, StewardQuery, AnalyticsQuery)
)
Mutation = merge_types(
    "Mutation", (PeopleMutation, HouseholdMutation, ConnectorMutation, MaintenanceMutation, StewardMutation)
)
Subscription = merge_types("Subscription", (MaintenanceSubscription, LiveSubscription))
# issue 12: identity resolution (links, review queue, steward decisions)
Query = merge_types("Query", (Query, IdentityQuery))
Mutation = merge_types("Mutation", (Mutation, IdentityMutation))


def build_schema(
    *,
    introspection: bool = True,
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 5000,
    max_cost: int = 5000,
    federation_auth_directives: bool = False,
    connectors: Sequence[ConnectorSpec] = (),
) -> HubSchema:
    """The hub's schema: an Apollo Federation 2 subgraph (see `schema.federation`).

    `federation_auth_directives` renders Router authorization directives into the subgraph SDL; the Node
    gateway refuses them, so they are off unless an Apollo Router composes the hub.
    `connectors` (validated specs, `connectors.load_specs`) each add a typed field to Person, generated from
    the connector's declared fields (`schema.connectors.fields`); none are called while building.
    """
    install(Person, connectors)
    # Parsing and validation dominate a small request unless cached (shared PLATFORM.md: ~5 ms).
    # Factories, not instances: an extension instance must not be shared between requests.
    # The parser and validation caches live at module level, so they are shared all the same.
    # The validation rules are classes built once: the validation cache is keyed by the rule classes,
    # and the stock QueryDepthLimiter / MaxAliasesLimiter build new ones per request (0 cache hits).
    rules = [
        depth_limit_rule(max_depth, None, None),
        alias_limit_rule(max_aliases),
        cost_limit_rule(max_cost),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        ErrorCodes,
        ConnectorWarnings,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=1024),
        FieldPolicy,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=EVENT_TYPES,
        extensions=extensions,
        auth_directives=federation_auth_directives,
        config=StrawberryConfig(scalar_map=SCALARS),
    )


def schema_fields(schema: strawberry.Schema) -> dict[str, set[str]]:
    """{type name: field names} for every object type, Query and Mutation included (policy validation)."""
    out: dict[str, set[str]] = {}
    for name, t in schema._schema.type_map.items():
        fields = getattr(t, "fields", None)
        if not name.startswith("__") and fields is not None and not hasattr(t, "parse_value"):
            out[name] = set(fields)
    return out
