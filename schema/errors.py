"""GraphQL errors: codes in `extensions.code`, typed mutation errors, and masking of the unexpected.

Every error a client sees carries `extensions.code`. Errors raised by `graph` keep their safe
message and code; anything unexpected is logged and replaced by INTERNAL_SERVER_ERROR, so no stack
trace, Cypher or driver detail leaves the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graph.errors import DuplicateNino, GraphError, InvalidValue, NotFound, VersionConflict

log = logging.getLogger(__name__)


class HubError(GraphQLError):
    """A GraphQL error raised deliberately by a resolver, with a code."""

    def __init__(self, message: str, code: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


def _coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None and (error.extensions or {}).get("code"):
        return error  # already coded
    if error.path is None:
        # Raised before any resolver ran: parse, validation (limits included) and variable coercion.
        # graphql-core words these for clients, so they pass unmasked, with a code.
        if not (error.extensions or {}).get("code"):
            if original is not None:
                code = "BAD_USER_INPUT"
            elif error.message.startswith("Syntax Error"):
                code = "GRAPHQL_PARSE_FAILED"
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
            error.extensions = {**(error.extensions or {}), "code": code}
        return error
    if isinstance(original, HubError):
        return GraphQLError(original.message, error.nodes, path=error.path, extensions=original.extensions)
    if isinstance(original, GraphError):
        extensions: dict[str, object] = {"code": original.code}
        if isinstance(original, InvalidValue):
            extensions["field"] = original.field
        return GraphQLError(str(original), error.nodes, path=error.path, extensions=extensions)
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return error
    log.error("unexpected error in resolver", exc_info=original)
    return GraphQLError(
        "Internal server error", error.nodes, path=error.path, extensions={"code": "INTERNAL_SERVER_ERROR"}
    )


def code_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Give every error a code and mask the unexpected ones (idempotent)."""
    return [_coded(e) for e in errors]


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = code_errors(result.errors)


@strawberry.interface(description="A problem with a mutation's input or the record's state, returned as data.")
class UserError:
    message: str
    code: str


@strawberry.type
class InvalidInput(UserError):
    field: str


@strawberry.type
class NotFoundError(UserError):
    id: strawberry.ID


@strawberry.type
class VersionConflictError(UserError):
    expected_version: int
    current_version: int


@strawberry.type
class NinoTaken(UserError):
    nino: str | None


def user_error(exc: GraphError) -> InvalidInput | NotFoundError | VersionConflictError | NinoTaken:
    """Map an expected domain error to its typed GraphQL form (others propagate as errors)."""
    if isinstance(exc, InvalidValue):
        return InvalidInput(message=str(exc), code=exc.code, field=exc.field)
    if isinstance(exc, NotFound):
        return NotFoundError(message=str(exc), code=exc.code, id=strawberry.ID(exc.key))
    if isinstance(exc, VersionConflict):
        return VersionConflictError(
            message=str(exc), code=exc.code, expected_version=exc.expected, current_version=exc.current
        )
    if isinstance(exc, DuplicateNino):
        return NinoTaken(message=str(exc), code=exc.code, nino=exc.nino)
    raise exc
