"""OpenTelemetry tracing, configured only by the standard `OTEL_*` environment variables.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans go to that
collector over OTLP/HTTP; the SDK itself reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*` and the rest. Unset (or
`OTEL_SDK_DISABLED=true`): no SDK, no exporter, and the API's non-recording spans still carry a
caller's W3C `traceparent` through to upstream calls and into the log lines.

Spans: the HTTP request (hub.logs.RequestContext), the GraphQL operation (hub.app), each DataLoader
batch (schema.loaders, through the graph instrument), each Cypher statement (graph.driver, statement
text only, never parameter values) and each connector HTTP call (connectors.http). Attributes never carry
personal data: routes not URLs, operation names sanitised like metric labels, Cypher text that is
parameterised by construction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = ["Status", "StatusCode", "configure_tracing", "extract", "failed", "shutdown_tracing", "trace_id", "tracer"]
log = logging.getLogger(__name__)
TRACER = "citizen-hub"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_configured = False


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER)


def configure_tracing() -> bool:
    """Install the SDK with an OTLP/HTTP exporter when an endpoint is configured; return whether it did."""
    global _configured
    if _configured:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if not any(os.environ.get(name) for name in _ENDPOINTS):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES; attributes given here win, so the name defers to the variable.
    service = os.environ.get("OTEL_SERVICE_NAME") or "citizen-hub"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("tracing: exporting spans over OTLP/HTTP")
    return True


def shutdown_tracing() -> None:
    """Flush spans still queued (the SDK also does it at exit)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


def extract(headers: Mapping[str, str]) -> Context:
    """The caller's trace context (W3C `traceparent` / `tracestate` with the default propagators)."""
    return propagate.extract(headers)


def trace_id(span: Span | None = None) -> str | None:
    """The 32-hex trace id of `span` (default: the current one), or None when there is none."""
    context = (span or trace.get_current_span()).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def failed(span: Span, error: BaseException) -> None:
    """Mark a span failed with the exception's type only (messages can echo personal data)."""
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.set_attribute("error.type", type(error).__name__)


class TracingInstrument:
    """The tracing half of graph.driver.Instrument: a client span per Cypher statement."""

    def statement(self, function: str, query: str) -> AbstractContextManager[object]:
        return _cypher_span(function, query)


@contextmanager
def _cypher_span(function: str, query: str) -> Iterator[Span]:
    with tracer().start_as_current_span(
        f"cypher {function}",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "neo4j", "db.query.text": query, "code.function.name": function},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            failed(span, exc)
            raise


def batch_span(loader: str, keys: int) -> AbstractContextManager[Span]:
    """A span around one DataLoader batch, with its size."""
    return tracer().start_as_current_span(f"dataloader {loader}", attributes={"hub.batch.size": keys})
