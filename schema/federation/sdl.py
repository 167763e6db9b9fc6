"""The API's SDL: what clients code against, without the federation plumbing a gateway uses.

A subgraph's schema carries `_entities`, `_service`, `_Any`, `_Entity`, `_Service` and the federation
directive definitions. Clients never call those (a gateway does, and strips them from the supergraph's
API), so `hub schema` and SDL tools get the hub's API without them; `hub schema --federation` prints the
subgraph SDL instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    GraphQLSchema,
    Node,
    ObjectTypeDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_ast,
    print_schema,
)
from strawberry.federation import schema_directives

N = TypeVar("N", bound=Node)

FEDERATION_DIRECTIVES = frozenset(
    d.graphql_name or d.python_name
    for d in (getattr(v, "__strawberry_directive__", None) for v in vars(schema_directives).values())
    if d is not None
)
FEDERATION_FIELDS = frozenset({"_entities", "_service"})


def api_sdl(schema: GraphQLSchema) -> str:
    document = parse(print_schema(schema))
    query = schema.query_type.name if schema.query_type else "Query"
    kept: list[Any] = []
    for node in document.definitions:
        if isinstance(node, DirectiveDefinitionNode) and node.name.value in FEDERATION_DIRECTIVES:
            continue
        if isinstance(node, TypeDefinitionNode) and is_plumbing(node.name.value):
            continue
        if isinstance(node, ObjectTypeDefinitionNode) and node.name.value == query:
            node = replace_node(
                node, fields=tuple(f for f in node.fields or () if f.name.value not in FEDERATION_FIELDS)
            )
        kept.append(node)
    return print_ast(DocumentNode(definitions=tuple(kept)))


def is_plumbing(type_name: str) -> bool:
    """Federation's types (`_Any`, `_Entity`, `_Service`, `_FieldSet`) and the link spec's (`link__Purpose`)."""
    return type_name.startswith("_") or "__" in type_name


def replace_node(node: N, **changes: Any) -> N:
    """graphql-core AST nodes are frozen: a copy with some attributes changed."""
    return type(node)(**{key: getattr(node, key) for key in node.keys if key not in changes}, **changes)
