"""Look-ahead: which households a selection on a Person will read, so one statement can fetch them all.

Resolving `person(id) { children { parents { … } } claims … }` field by field costs one graph round trip
for the person and one more per level of household nesting, each ~0.5 ms of Python in the driver (shared
PLATFORM.md). The root resolvers instead read the selection set here, fetch the person and every household
it reaches in one statement (`graph.views.household_trees`), and prime the request's DataLoaders with the
result. Nothing else changes: every field still resolves through its own resolver, so the field policy, the
audit record and the null-with-FORBIDDEN behaviour are exactly those of the level-by-level path.

The shape only ever over-fetches (directives such as @skip are ignored, inline fragments are followed
whatever their type condition); priming a loader with data nobody reads is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from graph.views import MAX_TREE_DEPTH, HouseholdShape, HouseholdTree
from schema.context import Info

# Person fields answered from the person's household (`schema.people.types._household`).
HOUSEHOLD_FIELDS = frozenset({"parents", "children", "partner", "caresFor", "address", "addressHistory", "claims"})
# Person fields that lead to other people, by the HouseholdShape attribute holding their households.
_PEOPLE = {"parents": "parents", "children": "children", "partner": "partners"}
_CACHE_LIMIT = 4096
# The shape of a root field, by the identity of its AST node: with the parser cache the same document
# is the same object for every request that sends it. The node is kept with its shape so that an id
# can never be reused by another node while the entry lives.
_shapes: dict[int, tuple[FieldNode, HouseholdShape | None]] = {}


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterator[FieldNode]:
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, FieldNode):
            yield sel
        elif isinstance(sel, InlineFragmentNode):
            yield from _fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen and sel.name.value in fragments:
            yield from _fields(fragments[sel.name.value].selection_set, fragments, seen | {sel.name.value})


def _merge(a: HouseholdShape | None, b: HouseholdShape | None) -> HouseholdShape | None:
    if a is None or b is None:
        return a or b
    return HouseholdShape(
        parents=_merge(a.parents, b.parents),
        children=_merge(a.children, b.children),
        partners=_merge(a.partners, b.partners),
        cares=_merge(a.cares, b.cares),
    )


def shape_of(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], depth: int = 1
) -> HouseholdShape | None:
    """The households a selection on a Person reads, or None when it reads none."""
    fetch = False
    nested: dict[str, HouseholdShape | None] = {}
    for node in _fields(selection_set, fragments, frozenset()):
        name = node.name.value
        if name not in HOUSEHOLD_FIELDS:
            continue
        fetch = True
        if depth >= MAX_TREE_DEPTH:
            continue
        inner: SelectionSetNode | None = None
        attr = _PEOPLE.get(name)
        if attr is not None:
            inner = node.selection_set
        elif name == "caresFor":
            attr = "cares"
            people = [f for f in _fields(node.selection_set, fragments, frozenset()) if f.name.value == "person"]
            inner = SelectionSetNode(
                selections=tuple(s for f in people if f.selection_set for s in f.selection_set.selections)
            )
        if attr is not None:
            nested[attr] = _merge(nested.get(attr), shape_of(inner, fragments, depth + 1))
    return HouseholdShape(**nested) if fetch else None


def connection_shape(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> HouseholdShape | None:
    """The households a selection on a PersonConnection reads through `nodes` and `edges { node }`."""
    shape = None
    for node in _fields(selection_set, fragments, frozenset()):
        if node.name.value == "nodes":
            shape = _merge(shape, shape_of(node.selection_set, fragments))
        elif node.name.value == "edges":
            for inner in _fields(node.selection_set, fragments, frozenset()):
                if inner.name.value == "node":
                    shape = _merge(shape, shape_of(inner.selection_set, fragments))
    return shape


def root_shape(info: Info, connection: bool = False) -> HouseholdShape | None:
    """The shape of the selection under this root field (returning a Person, or with `connection` a
    PersonConnection), cached per document node."""
    raw = info._raw_info
    node = raw.field_nodes[0]
    cached = _shapes.get(id(node))
    if cached is not None and cached[0] is node:
        return cached[1]
    of = connection_shape if connection else shape_of
    shape = None
    for field_node in raw.field_nodes:  # the same response key asked twice: both selections count
        shape = _merge(shape, of(field_node.selection_set, raw.fragments))
    if len(_shapes) >= _CACHE_LIMIT:
        _shapes.clear()
    _shapes[id(node)] = (node, shape)
    return shape


def prime(info: Info, tree: HouseholdTree) -> None:
    """Hand a fetched tree to the request's loaders, as if each level had been loaded on its own."""
    loaders = info.context.loaders
    loaders.person.prime(tree.person.id, tree.person)
    for person_id, household in tree.households.items():
        loaders.household.prime(person_id, household)
