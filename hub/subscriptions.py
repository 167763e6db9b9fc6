"""GraphQL subscriptions over WebSocket (graphql-transport-ws): authenticating the socket.

A browser cannot set headers on a WebSocket, so the token travels in `connection_init`'s payload:
`{"Authorization": "Bearer <jwt>", "X-Purpose": "child-maintenance"}` (keys case-insensitive). The socket
is admitted (or closed 4403) exactly as an HTTP request would be: same verifier, same purpose rule, same
rate limit; the same field policy then applies to every field a subscription emits. Only subscriptions
run over a socket: queries and mutations belong on HTTP, where every read is audited before it leaves.
https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected

from graph.errors import GraphUnavailable
from hub import metrics
from hub.auth import PURPOSE_HEADER
from hub.errors import Refusal
from schema.context import Context
from schema.policy import Policy


def _param(params: dict[str, Any], name: str) -> str | None:
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


async def admit_socket(policy: Policy, context: Context) -> None:
    """Authenticate a socket from its connection_init payload into `context`, or raise ConnectionRejectionError."""
    resources = context.request.app.state.resources
    params = context.connection_params or {}
    try:
        principal = await resources.authenticator.authenticate(
            _param(params, "authorization"), _param(params, PURPOSE_HEADER)
        )
        await resources.limiter.check(principal.subject)
    except Refusal as refusal:
        metrics.REFUSALS.labels(refusal.code).inc()
        raise ConnectionRejectionError({"code": refusal.code, "message": refusal.message}) from None
    except GraphUnavailable as exc:
        metrics.REFUSALS.labels(exc.code).inc()
        raise ConnectionRejectionError({"code": exc.code}) from None
    context.principal = principal
    context.access = dataclasses.replace(policy.access_for(principal), queries=frozenset(), mutations=frozenset())
    context.verified = policy.verified(principal)


class TextFrames(ASGIWebSocketAdapter):
    """Send every message as a text frame, as the protocol says ("stringified before being sent").

    Strawberry sends bytes as binary frames when `encode_json` returns bytes (the hub's does, for HTTP);
    a browser's graphql-ws client then gets a Blob instead of a message and closes the socket (4004).
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
