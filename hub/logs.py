"""Structured logs: one JSON object per line, with the request id and trace id of the request.

Every logger in the process (the hub's own `logging.getLogger(__name__)` loggers, uvicorn, the
neo4j driver) goes through one structlog formatter, so a log pipeline parses one shape. Personal
data never enters a log line: the hub logs identifiers of requests, not of people, and GraphQL
errors are logged by code and path, never by message (messages can echo what a caller typed).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import tracing

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_TRACE_HEADERS = (b"traceparent", b"tracestate")


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(*, json_output: bool = True) -> logging.Formatter:
    """The one formatter every handler uses: structlog's, for stdlib and structlog records alike."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging(level: str = "INFO", *, json_output: bool = True) -> None:
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(json_output=json_output))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Strawberry logs every GraphQL error with its message; the hub logs codes instead (schema.errors).
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


def request_id_from(header: bytes | None) -> str:
    """Keep a caller's request id if it is sane (it ends up in logs and the audit trail)."""
    if header and _REQUEST_ID.fullmatch(header):
        return header.decode()
    return str(uuid.uuid4())


class RequestContext:
    """ASGI middleware: request id and trace id for every log line, an access log line and a span per request.

    The span continues the caller's W3C trace (`traceparent`); its trace id is the one logged, and the
    one connectors forward upstream. Its name and attributes hold the route, never the query string.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("hub.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = request_id_from(headers.get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = rid
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items() if k in _TRACE_HEADERS}
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        path = scope.get("path", "")
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, rid.encode())]
            await send(message)

        with tracing.tracer().start_as_current_span(
            f"{method} {path}",
            context=tracing.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "hub.request_id": rid},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            structlog.contextvars.bind_contextvars(request_id=rid, trace_id=tracing.trace_id(span))
            try:
                await self.app(scope, receive, send_with_id)
            except BaseException as exc:
                tracing.failed(span, exc)
                raise
            finally:
                if scope["type"] == "http":
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    if path not in ("/healthz", "/readyz", "/metrics"):
                        self.log.info(
                            "request",
                            method=method,
                            path=path,  # the route only: query strings can carry anything
                            status=status,
                            duration_ms=round((time.perf_counter() - started) * 1000, 2),
                        )
                structlog.contextvars.clear_contextvars()
