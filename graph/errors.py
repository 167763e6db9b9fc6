"""The graph package's exception family.

Repositories raise these; `schema` maps each to a GraphQL error code or a typed mutation error.
Messages are safe to show to a client: they never carry Cypher or driver internals.
"""

from __future__ import annotations


class GraphError(Exception):
    """Base of every error raised by `graph`."""

    code = "GRAPH_ERROR"


class GraphUnavailable(GraphError):
    """The graph server cannot be reached (down, refusing, or timing out)."""

    code = "GRAPH_UNAVAILABLE"

    def __init__(self, message: str = "The person graph is unavailable; try again shortly.") -> None:
        super().__init__(message)


class GraphBusy(GraphError):
    """A write kept colliding with concurrent writes until its retry budget ran out; safe to retry."""

    code = "GRAPH_BUSY"

    def __init__(self, message: str = "The person graph is busy with conflicting changes; try again.") -> None:
        super().__init__(message)


class InvalidValue(GraphError, ValueError):
    """A value failed validation before reaching the graph (bad NINO, empty name, ...)."""

    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(GraphError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class VersionConflict(GraphError):
    """An optimistic-concurrency check failed: someone else changed the record first."""

    code = "VERSION_CONFLICT"

    def __init__(self, person_id: str, expected: int, current: int) -> None:
        super().__init__(
            f"Person {person_id} is at version {current}, not {expected}: reload it and apply the change again"
        )
        self.person_id = person_id
        self.expected = expected
        self.current = current


class DuplicateNino(GraphError):
    code = "NINO_TAKEN"

    def __init__(self, nino: str) -> None:
        super().__init__(f"National Insurance number {nino} already belongs to another person")
        self.nino = nino


class IdentityTaken(GraphError):
    """An external identity is already linked to another person: a steward must unlink it first."""

    code = "IDENTITY_TAKEN"

    def __init__(self, source: str, person_id: str) -> None:
        super().__init__(f"that {source} identity is already linked to another person")
        self.source = source
        self.person_id = person_id
