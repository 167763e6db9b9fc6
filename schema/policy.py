"""Field-level access policy: who may read which fields and run which mutations, for what purpose.

Policies live in `config/policies.yaml` as a list of grants. A principal gets the union of the
grants that match its roles, department and stated purpose; anything no grant names is denied.
Fields are named `Type.field` (`Person.nino`, `Claim.*`); names are checked against the schema
when the file is loaded, so a typo fails start-up instead of silently denying (or allowing).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schema.principal import Principal

ROLES = ("citizen", "caseworker", "partner", "steward", "auditor")


class PolicyError(Exception):
    """The policy file is unusable; the message names the file, the grant and the key."""


class Scope(StrEnum):
    ANY = "any"  # any person's record
    SELF = "self"  # only the principal's own record (people reached from it: `related` fields)


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["citizen", "caseworker", "partner", "steward", "auditor"]
    department: str | None = None
    purpose: str | None = None
    people: Scope = Scope.ANY
    read: tuple[str, ...] = ()
    # Fields readable only with strong authentication and identity confidence (e.g. Cl.Cm + P2).
    read_with_verified_identity: tuple[str, ...] = ()
    # With people: self, fields of other people reachable from the own record (children, partner).
    related: tuple[str, ...] = ()
    # With people: self, fields of a maintenance case's records readable only by the paying / the
    # receiving parent in that case (on top of `read`): each parent sees only what their role allows.
    paying_parent: tuple[str, ...] = ()
    receiving_parent: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()  # root Query fields this grant may call
    mutations: tuple[str, ...] = ()
    description: str = ""
    # A grant about one connector's fields: in force only while that connector is configured (its fields
    # exist only then), and checked as strictly as any other grant when it is.
    connector: str | None = None


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grants: list[Grant] = Field(default_factory=list)
    # The stated purpose must be one of these (a caseworker's X-Purpose header; a partner's claim).
    purposes: dict[str, str] = Field(default_factory=dict)
    verified_identity: dict[str, Any] = Field(default_factory=lambda: {"auth": "Cl.Cm", "confidence": "P2"})


@dataclass(frozen=True, slots=True)
class Access:
    """What one principal may do: computed once per (roles, department, purpose) and cached."""

    readable: frozenset[str] = frozenset()
    verified_only: frozenset[str] = frozenset()
    related: frozenset[str] = frozenset()
    paying_parent: frozenset[str] = frozenset()
    receiving_parent: frozenset[str] = frozenset()
    queries: frozenset[str] = frozenset()
    mutations: frozenset[str] = frozenset()
    any_person: bool = False
    self_only: bool = False
    grants: tuple[int, ...] = field(default=())

    def by_case_role(self, role: str | None) -> frozenset[str]:
        """Fields readable only by a parent in a case, for `role` (PAYING / RECEIVING; None: none)."""
        if role == "PAYING":
            return self.paying_parent
        if role == "RECEIVING":
            return self.receiving_parent
        return frozenset()

    @property
    def empty(self) -> bool:
        return not (self.queries or self.mutations)


DENY = Access()


class Policy:
    def __init__(self, spec: PolicyFile, *, source: str = "policies") -> None:
        self.spec = spec
        self.source = source
        self._cache: dict[tuple[frozenset[str], str | None, str | None], Access] = {}

    @property
    def purposes(self) -> dict[str, str]:
        return self.spec.purposes

    def access_for(self, principal: Principal) -> Access:
        key = (principal.roles, principal.department, principal.purpose)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._compute(principal)
        return cached

    def _compute(self, p: Principal) -> Access:
        readable: set[str] = set()
        verified: set[str] = set()
        related: set[str] = set()
        paying: set[str] = set()
        receiving: set[str] = set()
        queries: set[str] = set()
        mutations: set[str] = set()
        any_person = self_only = False
        matched: list[int] = []
        for i, g in enumerate(self.spec.grants):
            if g.role not in p.roles:
                continue
            if g.department is not None and g.department != p.department:
                continue
            if g.purpose is not None and g.purpose != p.purpose:
                continue
            matched.append(i)
            readable.update(g.read)
            verified.update(g.read_with_verified_identity)
            related.update(g.related)
            paying.update(g.paying_parent)
            receiving.update(g.receiving_parent)
            queries.update(g.queries)
            mutations.update(g.mutations)
            if g.people is Scope.ANY:
                any_person = True
            else:
                self_only = True
        return Access(
            readable=frozenset(readable),
            verified_only=frozenset(verified - readable),
            related=frozenset(related),
            paying_parent=frozenset(paying),
            receiving_parent=frozenset(receiving),
            queries=frozenset(queries),
            mutations=frozenset(mutations),
            any_person=any_person,
            self_only=self_only and not any_person,
            grants=tuple(matched),
        )

    def verified(self, p: Principal) -> bool:
        want = self.spec.verified_identity
        return p.has_auth_level(str(want.get("auth", "Cl.Cm"))) and p.has_confidence(str(want.get("confidence", "P2")))


def load_policy(path: Path, fields: dict[str, set[str]], connectors: Collection[str] = ()) -> Policy:
    """Read and validate `path` against the schema's `fields` ({type: {field}}, Query and Mutation included).

    Grants naming a `connector` that is not among ``connectors`` (the configured ones) are left out.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found (every request would be denied)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise PolicyError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping with a `grants` list")
    try:
        spec = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problems.append(f"  {loc}: {err['msg']}")
        raise PolicyError(f"{path}: invalid policy\n" + "\n".join(problems)) from None

    grants = []
    for i, g in enumerate(spec.grants):
        if g.connector is not None and g.connector not in connectors:
            continue
        label = "/".join(x for x in (g.role, g.department, g.purpose) if x)
        where = f"{path}: grants.{i} ({label})"
        expanded: dict[str, tuple[str, ...]] = {}
        for key in ("read", "read_with_verified_identity", "related", "paying_parent", "receiving_parent"):
            out: list[str] = []
            for name in getattr(g, key):
                out.extend(_expand(name, fields, f"{where}.{key}"))
            expanded[key] = tuple(sorted(set(out)))
        for key, root in (("queries", "Query"), ("mutations", "Mutation")):
            known = fields.get(root, set())
            for name in getattr(g, key):
                if name not in known:
                    raise PolicyError(
                        f"{where}.{key}: unknown {root} field {name!r} (known: {', '.join(sorted(known))})"
                    )
        if g.purpose is not None and g.purpose not in spec.purposes:
            raise PolicyError(f"{where}.purpose: {g.purpose!r} is not declared under `purposes`")
        if g.role == "partner" and (g.department is None or g.purpose is None):
            raise PolicyError(f"{where}: a partner grant names its department and purpose")
        if g.role == "citizen" and g.people is not Scope.SELF:
            raise PolicyError(f"{where}.people: a citizen reaches only their own record (people: self)")
        grants.append(g.model_copy(update=expanded))
    return Policy(spec.model_copy(update={"grants": grants}), source=str(path))


def _expand(name: str, fields: dict[str, set[str]], where: str) -> list[str]:
    type_name, _, field_name = name.partition(".")
    if type_name not in fields:
        raise PolicyError(f"{where}: unknown type {type_name!r} in {name!r}")
    if field_name == "*":
        return [f"{type_name}.{f}" for f in fields[type_name]]
    if field_name not in fields[type_name]:
        raise PolicyError(f"{where}: {type_name} has no field {field_name!r}")
    return [name]
