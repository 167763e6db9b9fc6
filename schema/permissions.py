"""Field-level policy enforcement for every path to every field, and the record of what was read.

One `resolve` hook sees every field resolution (root fields, nested fields, later `_entities`), so
no path can bypass it. A field no grant allows resolves to null with a FORBIDDEN error that names
the field and nothing else. Allowed reads of a person's fields are noted in the context for the
audit trail, which is written before the response leaves (see `hub.app`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strawberry.extensions import SchemaExtension

from schema.context import Context, Info
from schema.errors import HubError

# Types that carry no personal data of their own: paging structure and mutation outcomes.
# Every other object type is default-deny: its fields need a grant.
OPEN_TYPES = frozenset(
    {
        "PersonConnection",
        "PersonEdge",
        "PageInfo",
        "InvalidInput",
        "NotFoundError",
        "VersionConflictError",
        "NinoTaken",
        "LinkRelationshipSuccess",
        "ConsentRevoked",
        "IdentityLinked",
        "IdentityTakenError",
    }
)


def forbidden(what: str) -> HubError:
    return HubError(f"Not allowed: {what}", "FORBIDDEN")


def check(ctx: Context, parent: str, name: str, root: Any) -> None:
    """Raise FORBIDDEN unless the principal may resolve `parent.name` on `root`."""
    access = ctx.access
    if parent == "Query":
        if name not in access.queries:
            raise forbidden(f"query {name}")
        return
    if parent == "Mutation":
        if name not in access.mutations:
            raise forbidden(f"mutation {name}")
        return
    key = f"{parent}.{name}"
    if parent == "Person":
        principal = ctx.principal
        own = principal is not None and principal.person_id is not None and root.id == principal.person_id
        if access.self_only and not own:
            allowed = key in access.related
        else:
            allowed = key in access.readable or (ctx.verified and key in access.verified_only)
        if not allowed:
            raise forbidden(f"reading {key}")
        ctx.reads[root.id].add(name)
        return
    parties = getattr(root, "parties", None)
    if parties is not None:
        # A record of a maintenance case (schema.maintenance): a citizen reads it only as a parent in
        # the case, and only what that parent's role allows (never the other parent's detail). It is
        # personal data of both parents, so the read is audited on both.
        if access.self_only:
            allowed = key in access.readable or key in access.by_case_role(_case_role(ctx, parties))
        else:
            allowed = key in access.readable or (ctx.verified and key in access.verified_only)
        if not allowed:
            raise forbidden(f"reading {key}")
        for person_id in parties:
            if person_id:
                ctx.reads[person_id].add(key)
        return
    if key not in access.readable and not (ctx.verified and key in access.verified_only):
        raise forbidden(f"reading {key}")


def _case_role(ctx: Context, parties: tuple[str, str]) -> str | None:
    """PAYING or RECEIVING: the principal's role in a case whose parents are (paying, receiving)."""
    me = ctx.principal.person_id if ctx.principal else None
    if me is None:
        return None
    return "PAYING" if me == parties[0] else "RECEIVING" if me == parties[1] else None


class FieldPolicy(SchemaExtension):
    def resolve(self, _next: Callable[..., Any], root: Any, info: Info, *args: Any, **kwargs: Any) -> Any:
        parent = info.parent_type.name
        if parent not in OPEN_TYPES and not parent.startswith("__") and not info.field_name.startswith("__"):
            check(info.context, parent, info.field_name, root)
        return _next(root, info, *args, **kwargs)
