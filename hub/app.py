"""Starlette application: the composition root (lifespan) and the HTTP routes.

The lifespan creates the graph driver and the Redis client once per process and hands them to
every request; nothing opens a connection at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types import ExecutionResult

from connectors import ConnectorRegistry
from graph.audit import Actor, AuditTrail
from graph.driver import Graph
from graph.errors import GraphUnavailable
from graph.migrations import migrate
from hub import metrics, tracing
from hub.auth import PURPOSE_HEADER, Authenticator, TokenVerifier, key_source
from hub.connectors import load_connector_specs, running_connectors
from hub.documents import TrustedDocuments
from hub.errors import Refusal
from hub.events import RedisEvents
from hub.identities import IdentityLinker
from hub.linkage import load_config as load_linkage_config
from hub.logs import RequestContext, request_id_from
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from hub.subscriptions import TextFrames, admit_socket
from hub.web import web_routes
from hub.webhooks import receive as receive_webhook
from schema import Context, build_schema, schema_fields
from schema.connectors.loaders import ConnectorRequest
from schema.errors import code_errors
from schema.policy import DENY, Policy, load_policy
from schema.principal import Principal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Resources:
    graph: Graph
    redis: aioredis.Redis
    authenticator: Authenticator
    limiter: RateLimiter
    audit: AuditTrail
    connectors: ConnectorRegistry | None = None  # one per process, over one shared aiohttp session
    events: RedisEvents | None = None  # live events: pub/sub + streams (hub.events)
    linker: IdentityLinker | None = None  # real-time identity resolution (hub.identities, issue 12)


def connect_graph(settings: Settings) -> Graph:
    if not settings.neo4j_uri:
        raise RuntimeError("NEO4J_URI is not set: start the embedded servers first (hub serve does)")
    return Graph.connect(
        settings.neo4j_uri,
        settings.neo4j_user,
        settings.neo4j_password.get_secret_value() if settings.neo4j_password else "",
        settings.neo4j_database,
        connection_timeout=settings.graph_connection_timeout,
        max_transaction_retry_time=settings.graph_max_retry_time,
        max_connection_pool_size=settings.graph_pool_size,
    )


def connect_redis(settings: Settings) -> aioredis.Redis:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: start the embedded servers first (hub serve does)")
    # A blocking pool waits for a free connection instead of failing at once past the limit.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.ready_timeout,
        socket_connect_timeout=settings.ready_timeout,
        socket_timeout=settings.ready_timeout,
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it


class CountedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the number of running subscriptions in `hub_active_subscriptions`."""

    async def run_operation(self, operation: Any) -> None:
        metrics.SUBSCRIPTIONS.inc()
        try:
            await super().run_operation(operation)
        finally:
            metrics.SUBSCRIPTIONS.dec()


class HubGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CountedTransportWS
    websocket_adapter_class = TextFrames  # type: ignore[assignment]  # issue 8: browsers need text frames

    def __init__(
        self,
        *args: Any,
        policy: Policy,
        max_body_bytes: int,
        documents: TrustedDocuments | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.max_body_bytes = max_body_bytes
        self.documents = documents

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gate a request before Strawberry sees it: identity, rate, size, trusted documents."""
        if scope["type"] == "http":
            request = Request(scope)
            wants_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
            if not (wants_ide and self.graphql_ide):
                try:
                    receive = await self._admit(request, scope, receive)
                except Refusal as refusal:
                    metrics.REFUSALS.labels(refusal.code).inc()
                    await refusal.response()(scope, receive, send)
                    return
                except GraphUnavailable as exc:
                    metrics.REFUSALS.labels(exc.code).inc()
                    await Refusal(str(exc), exc.code, 503).response()(scope, receive, send)
                    return
        elif scope["type"] == "websocket":
            metrics.WEBSOCKETS.inc()
            try:
                await super().__call__(scope, receive, send)
            finally:
                metrics.WEBSOCKETS.dec()
            return
        await super().__call__(scope, receive, send)

    async def execute_single(self, request: Request, *args: Any, **kwargs: Any) -> ExecutionResult:
        """The GraphQL operation as a span named by its (sanitised) operation name, never its text."""
        operation = getattr(request.state, "operation", "anonymous")
        with tracing.tracer().start_as_current_span(
            f"graphql {operation}", attributes={"graphql.operation.name": operation}
        ) as span:
            result = await super().execute_single(request, *args, **kwargs)
            if result.errors:
                span.set_status(tracing.Status(tracing.StatusCode.ERROR))
                span.set_attribute(
                    "graphql.error.codes", sorted({str((e.extensions or {}).get("code")) for e in result.errors})
                )
            return result

    async def _admit(self, request: Request, scope: Scope, receive: Receive) -> Receive:
        resources: Resources = request.app.state.resources
        principal = await resources.authenticator.authenticate(
            request.headers.get("authorization"), request.headers.get(PURPOSE_HEADER)
        )
        await resources.limiter.check(principal.subject)
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["started"] = time.perf_counter()
        if request.method != "POST":
            state["operation"] = metrics.operation_label(request.query_params.get("operationName"))
            return receive
        body = await read_body(receive, self.max_body_bytes, request.headers.get("content-length"))
        if self.documents is not None:
            body = self.documents.resolve(body)
        state["operation"] = metrics.operation_label(_operation_name(body))
        return replay(body)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        resources: Resources = request.app.state.resources
        # None only while rendering GraphiQL, which executes nothing: then everything is denied.
        principal: Principal | None = getattr(request.state, "principal", None)
        context = Context(
            graph=resources.graph,
            principal=principal,
            access=self.policy.access_for(principal) if principal else DENY,
            verified=self.policy.verified(principal) if principal else False,
            request_id=getattr(request.state, "request_id", None) or request_id_from(None),
            request=request,
            connectors=ConnectorRequest(resources.connectors, resources.graph) if resources.connectors else None,
            events=resources.events,
            audit=resources.audit,
            linker=resources.linker,
        )
        request.state.context = context
        return context

    async def on_ws_connect(self, context: Context) -> None:
        """A WebSocket is authenticated by its connection_init payload (hub.subscriptions), never unauthenticated."""
        await admit_socket(self.policy, context)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        context: Context | None = getattr(request.state, "context", None)
        record: asyncio.Future[str] | None = None
        if context is not None and context.reads:
            # The audit record is durable before any personal data leaves; if it cannot be written,
            # the data does not leave either. It is sent first, and the response built while it is
            # written (issue 13); nothing is returned until it is committed.
            resources: Resources = request.app.state.resources
            record = asyncio.ensure_future(
                resources.audit.record(actor_of(context.principal), context.request_id, context.reads)
            )
        # Strawberry skips schema extensions' after-operation hook when the parser cache meets a
        # syntax error, so codes are made sure of here too.
        if result.errors:
            result.errors = code_errors(result.errors)
        observe(request, result)
        response = process_result(result)
        if record is not None:
            try:
                await record
                metrics.AUDIT_WRITES.labels("ok").inc()
            except Exception:
                metrics.AUDIT_WRITES.labels("failed").inc()
                log.exception("audit trail unavailable: response withheld")
                return {
                    "data": None,
                    "errors": [
                        {
                            "message": "The audit trail is unavailable; try again.",
                            "extensions": {"code": "AUDIT_UNAVAILABLE"},
                        }
                    ],
                }
        return response


def _operation_name(body: bytes) -> object:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data.get("operationName") if isinstance(data, dict) else None


def observe(request: Request, result: ExecutionResult) -> None:
    operation = getattr(request.state, "operation", "anonymous")
    if result.errors:
        outcome = "partial" if result.data else "error"
        for error in result.errors:
            metrics.ERRORS.labels(str((error.extensions or {}).get("code", "UNKNOWN"))).inc()
    else:
        outcome = "ok"
    metrics.REQUESTS.labels(operation, outcome).inc()
    started = getattr(request.state, "started", None)
    if started is not None:
        metrics.REQUEST_SECONDS.labels(operation).observe(time.perf_counter() - started)


def actor_of(principal: Principal | None) -> Actor:
    assert principal is not None
    role = "partner" if "partner" in principal.roles else ",".join(sorted(principal.roles))
    return Actor(subject=principal.subject, role=role, department=principal.department, purpose=principal.purpose)


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """Read the request body, refusing (413) anything over `limit` bytes without buffering it all."""
    too_large = Refusal(f"request body over {limit} bytes", "REQUEST_TOO_LARGE", 413)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal("client disconnected", "BAD_REQUEST", 400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the next application."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition: with HUB_METRICS_TOKEN, for its bearer; without, for loopback clients only."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    elif request.client is None or request.client.host not in ("127.0.0.1", "::1"):
        return Response(status_code=404)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when both the graph and the cache answer within the readiness timeout, and not shutting down."""
    if getattr(request.app.state, "draining", False):
        return JSONResponse({"status": "draining", "checks": {}}, 503)
    resources: Resources = request.app.state.resources
    settings: Settings = request.app.state.settings
    checks: dict[str, str] = {}

    async def graph_check() -> None:
        try:
            await resources.graph.ping(settings.ready_timeout)
            checks["graph"] = "ok"
        except GraphUnavailable:
            checks["graph"] = "unavailable"

    async def cache_check() -> None:
        try:
            await asyncio.wait_for(resources.redis.ping(), settings.ready_timeout)
            checks["cache"] = "ok"
        except (TimeoutError, aioredis.RedisError, OSError):
            checks["cache"] = "unavailable"

    await asyncio.gather(graph_check(), cache_check())
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)


def create_app(settings: Settings) -> Starlette:
    # Validated before anything starts: a bad file or a missing secret stops start-up naming file, key, variable.
    connector_specs = load_connector_specs(settings)
    linkage = load_linkage_config(settings.linkage_config)  # issue 12: a bad file stops start-up, naming it
    schema = build_schema(
        introspection=settings.dev,
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_cost=settings.max_query_cost,
        federation_auth_directives=settings.federation_auth_directives,
        connectors=connector_specs,
    )
    policy = load_policy(
        settings.policy_file, schema_fields(schema), connectors=[s.config.name for s in connector_specs]
    )
    keys = key_source(settings)
    documents = TrustedDocuments.load(settings.trusted_documents) if settings.trusted_documents else None
    graphql = HubGraphQL(
        schema,
        graphql_ide="graphiql" if settings.dev else None,
        allow_queries_via_get=True,  # queries only: Strawberry refuses mutations over GET
        policy=policy,
        max_body_bytes=settings.max_body_bytes,
        documents=documents,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        graph = connect_graph(settings)
        cache = connect_redis(settings)
        verifier = TokenVerifier(
            keys,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            algorithms=settings.auth_algorithms,
            leeway=settings.auth_leeway,
        )
        authenticator = Authenticator(verifier, policy, graph, settings.auth_citizen_source)
        graph.instrument = metrics.GraphInstrument()
        # Everything opened here is closed in reverse order, whichever step fails.
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(graph.close)
            stack.push_async_callback(cache.aclose)
            await migrate(graph)
            audit = AuditTrail(graph)
            await audit.start()
            stack.push_async_callback(audit.close)
            events = RedisEvents(cache)
            await events.start()
            stack.push_async_callback(events.close)
            registry = await stack.enter_async_context(running_connectors(connector_specs, cache, graph))
            await stack.enter_async_context(metrics.pool_sampler(graph, cache))  # issue 10: pool usage gauges
            limiter = RateLimiter(cache, settings.rate_limit_per_minute)
            stack.push_async_callback(limiter.close)  # issue 13: its background sync task
            app.state.resources = Resources(
                graph=graph,
                redis=cache,
                authenticator=authenticator,
                limiter=limiter,
                audit=audit,
                connectors=registry,
                events=events,
                linker=IdentityLinker.load(graph, linkage),
            )
            # Issue 13: everything built so far (schema, policy, connectors, modules) lives as long as the
            # process. Frozen, the cyclic collector stops walking it on every full collection, which
            # py-spy put at ~5% of the hub's CPU under load (charged to whichever frame allocated).
            gc.collect()
            gc.freeze()
            yield

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/webhooks/{connector}", receive_webhook, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *web_routes(settings, connector_specs),  # issue 8: /me, /console, /assets, dev sign-in
        ],
        middleware=[Middleware(RequestContext)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
