"""Adds this request's connector warnings (stale values served) to the response's errors."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from schema.connectors.loaders import drain_warnings


class ConnectorWarnings(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        warnings = drain_warnings(getattr(context, "connectors", None))
        if result is not None and warnings:
            result.errors = [*(result.errors or []), *warnings]
