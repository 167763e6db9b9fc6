"""The GraphQL schema (Strawberry), organised by feature; `build_schema` assembles the root."""

from __future__ import annotations

from collections.abc import Callable

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
from strawberry.tools import merge_types

from schema.audit.queries import AuditQuery
from schema.context import Context
from schema.errors import ErrorCodes
from schema.export.queries import ExportQuery
from schema.federation import HubSchema, ServiceQuery
from schema.household.mutations import HouseholdMutation
from schema.limits import cost_limit_rule
from schema.people.mutations import PeopleMutation
from schema.people.queries import PeopleQuery
from schema.permissions import FieldPolicy

__all__ = ["Context", "HubSchema", "build_schema"]

Query = merge_types("Query", (PeopleQuery, AuditQuery, ExportQuery, ServiceQuery))
Mutation = merge_types("Mutation", (PeopleMutation, HouseholdMutation))


def build_schema(
    *,
    introspection: bool = True,
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 5000,
    max_cost: int = 5000,
    federation_auth_directives: bool = False,
) -> HubSchema:
    """The hub's schema: an Apollo Federation 2 subgraph (see `schema.federation`).

    `federation_auth_directives` renders Router authorization directives into the subgraph SDL; the Node
    gateway refuses them, so they are off unless an Apollo Router composes the hub.
    """
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
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=1024),
        FieldPolicy,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return HubSchema(query=Query, mutation=Mutation, extensions=extensions, auth_directives=federation_auth_directives)


def schema_fields(schema: strawberry.Schema) -> dict[str, set[str]]:
    """{type name: field names} for every object type, Query and Mutation included (policy validation)."""
    out: dict[str, set[str]] = {}
    for name, t in schema._schema.type_map.items():
        fields = getattr(t, "fields", None)
        if not name.startswith("__") and fields is not None and not hasattr(t, "parse_value"):
            out[name] = set(fields)
    return out
