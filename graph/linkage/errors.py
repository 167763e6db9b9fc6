"""Errors raised by identity resolution (part of the `graph` exception family)."""

from __future__ import annotations

from graph.errors import GraphError


class LinkageError(GraphError):
    """Base of every identity-resolution error."""

    code = "LINKAGE_ERROR"


class InvalidRecord(LinkageError, ValueError):
    """An incoming record cannot be matched: every problem is listed, none is guessed around."""

    code = "BAD_USER_INPUT"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        detail = "; ".join(f"{field}: {reason}" for field, reason in problems)
        super().__init__(f"record refused: {detail}")


class ModelError(LinkageError):
    """A saved model is unreadable, or was trained with comparisons this code does not define."""

    code = "LINKAGE_MODEL_INVALID"


class LinkingUnavailable(LinkageError):
    """No model has been trained yet, so records cannot be matched in real time."""

    code = "IDENTITY_LINKING_UNAVAILABLE"
