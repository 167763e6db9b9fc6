"""Apollo Router authorization directives in the subgraph SDL, mirroring the hub's own field policy.

The hub enforces `config/policies.yaml` itself on every path (direct, nested, `_entities`) and never
relies on a router for it; a Router in front may also refuse early. Every field the policy governs
(root fields, and the fields of every type that `schema.permissions` does not treat as open) gets
`@authenticated` (nothing in the hub is anonymous) and `@policy(policies: [["Type.field"]])`, naming the
policy's own unit, so a Router coprocessor answers from the same grants the hub applies.
No `@requiresScopes`: hub tokens carry roles, department and purpose, not OAuth scopes, and inventing
scopes would state a rule the hub does not enforce.

The Node `@apollo/gateway` refuses to start on these directives (UNSUPPORTED_LINKED_FEATURE), so they
are rendered only when HUB_FEDERATION_AUTH_DIRECTIVES is on (for an Apollo Router deployment).
Federation >= 2.5 is needed; the hub's SDL links 2.11.
Spec: https://www.apollographql.com/docs/graphos/routing/security/authorization
"""

from __future__ import annotations

from typing import Any, TypeVar

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldDefinitionNode,
    ListValueNode,
    NameNode,
    Node,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    parse,
    print_ast,
)

from schema.federation.sdl import is_plumbing, replace_node
from schema.permissions import OPEN_TYPES

FEDERATION_SPEC = "https://specs.apollo.dev/federation/"
IMPORTS = ("@authenticated", "@policy")
# Federation's own plumbing: a Router never exposes these to clients.
INTERNAL_FIELDS = frozenset({"Query._entities", "Query._service"})

N = TypeVar("N", bound=Node)


def with_auth_directives(sdl: str) -> str:
    """Return `sdl` (a subgraph SDL with a federation `@link`) with Router authorization directives added."""
    document = parse(sdl)
    definitions: list[Any] = []
    linked = False
    for node in document.definitions:
        if isinstance(node, SchemaDefinitionNode | SchemaExtensionNode):
            node, found = _import_directives(node)
            linked = linked or found
        elif isinstance(node, ObjectTypeDefinitionNode) and governed(node.name.value):
            type_name = node.name.value
            node = replace_node(node, fields=tuple(_guard(type_name, f) for f in node.fields or ()))
        definitions.append(node)
    if not linked:
        raise ValueError("the SDL links no federation spec (@link) to import the authorization directives from")
    return print_ast(DocumentNode(definitions=tuple(definitions)))


def governed(type_name: str) -> bool:
    """Whether the field policy decides who reads this type's fields (mirrors `FieldPolicy.resolve`)."""
    return type_name not in OPEN_TYPES and not is_plumbing(type_name)


def _guard(type_name: str, field: FieldDefinitionNode) -> FieldDefinitionNode:
    coordinate = f"{type_name}.{field.name.value}"
    if coordinate in INTERNAL_FIELDS:
        return field
    policy = ListValueNode(values=(ListValueNode(values=(StringValueNode(value=coordinate),)),))
    added = (
        DirectiveNode(name=NameNode(value="authenticated"), arguments=()),
        DirectiveNode(
            name=NameNode(value="policy"), arguments=(ArgumentNode(name=NameNode(value="policies"), value=policy),)
        ),
    )
    return replace_node(field, directives=(*(field.directives or ()), *added))


def _import_directives(node: N) -> tuple[N, bool]:
    """Add the authorization directives to the `import:` list of the federation `@link`."""
    directives = []
    found = False
    for directive in getattr(node, "directives", None) or ():
        args = {a.name.value: a for a in directive.arguments or ()}
        url = args.get("url")
        if (
            directive.name.value == "link"
            and url is not None
            and isinstance(url.value, StringValueNode)
            and url.value.value.startswith(FEDERATION_SPEC)
        ):
            found = True
            current = args.get("import")
            listed = current.value.values if current and isinstance(current.value, ListValueNode) else ()
            names = {v.value for v in listed if isinstance(v, StringValueNode)} | set(IMPORTS)
            imports = ArgumentNode(
                name=NameNode(value="import"),
                value=ListValueNode(values=tuple(StringValueNode(value=n) for n in sorted(names))),
            )
            kept = tuple(a for a in directive.arguments or () if a.name.value != "import")
            directive = replace_node(directive, arguments=(*kept, imports))
        directives.append(directive)
    return replace_node(node, directives=tuple(directives)), found
