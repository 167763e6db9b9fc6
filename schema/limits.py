"""Query cost: refuse, before execution, documents whose worst-case size is too large.

Cost counts the fields a document can resolve: each field costs its weight, times the number of
items each enclosing list can hold. A list's size is its `first` argument where it has one (a
variable counts as the largest page allowed), otherwise a declared typical bound. Depth, alias and
token limits catch other shapes of abuse; this one catches the wide-and-nested query that stays
within depth but multiplies (people -> children -> parents -> claims ...).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)

MAX_PAGE = 100
# Typical upper bounds of lists without a `first` argument.
LIST_SIZES: dict[str, int] = {
    "Person.children": 6,
    "Person.parents": 2,
    "Person.caresFor": 3,
    "Person.addressHistory": 10,
    "Person.claims": 10,
    "Person.accessLog": 50,
    "Query._entities": MAX_PAGE,
    # A connection's size is counted at the field that takes `first`, not again at its lists.
    "PersonConnection.edges": 1,
    "PersonConnection.nodes": 1,
    # issue 12: identity resolution (a waterfall has the prior and five comparisons)
    "IdentityCandidateConnection.edges": 1,
    "IdentityCandidateConnection.nodes": 1,
    "IdentityCandidate.comparisons": 6,
    "IdentityLink.comparisons": 6,
}
DEFAULT_LIST_SIZE = 10
# Fields that cost more than one unit to resolve (each is a graph or upstream lookup).
WEIGHTS: dict[str, int] = {}


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context: ValidationContext = self.context
            root = context.schema.get_root_type(node.operation)
            if root is None:
                return
            cost = Coster(context.schema, context.document).selection(root, node.selection_set, frozenset())
            if cost > max_cost:
                context.report_error(
                    GraphQLError(
                        f"Query cost {cost} exceeds the limit of {max_cost}: ask for fewer items or less nesting.",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": max_cost},
                    )
                )

    return CostLimit


class Coster:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def selection(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None, visiting: frozenset[str]
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += self.field(parent, sel, visiting)
            elif isinstance(sel, InlineFragmentNode):
                target = self._type(sel.type_condition.name.value) if sel.type_condition else parent
                total += self.selection(target or parent, sel.selection_set, visiting)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:  # unknown or cyclic: other rules report those
                    continue
                target = self._type(fragment.type_condition.name.value) or parent
                total += self.selection(target, fragment.selection_set, visiting | {name})
        return total

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self.schema.get_type(name)

    def field(self, parent: GraphQLNamedType, node: FieldNode, visiting: frozenset[str]) -> int:
        name = node.name.value
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) or name.startswith("__"):
            return 1
        field = parent.fields.get(name)
        if field is None:
            return 1
        inner, is_list = _unwrap(field.type)
        key = f"{parent.name}.{name}"
        first = _first(node)
        if first is None and "first" in field.args:
            default = field.args["first"].default_value
            first = default if isinstance(default, int) else MAX_PAGE
        if first is not None:
            size = first  # a list or connection of `first` items
        elif is_list:
            size = LIST_SIZES.get(key, DEFAULT_LIST_SIZE)
        else:
            size = 1
        if isinstance(inner, GraphQLUnionType):
            # A union costs as much as its most expensive member's selection.
            children = max((self.selection(m, node.selection_set, visiting) for m in inner.types), default=0)
        else:
            children = self.selection(inner, node.selection_set, visiting)
        return WEIGHTS.get(key, 1) + size * children


def _unwrap(t: Any) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(t, GraphQLNonNull | GraphQLList):
        if isinstance(t, GraphQLList):
            is_list = True
        t = t.of_type
    return t, is_list


def _first(node: FieldNode) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return max(0, min(int(arg.value.value), MAX_PAGE))
            if isinstance(arg.value, VariableNode):
                return MAX_PAGE
    return None
