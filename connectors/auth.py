"""Upstream authentication: static headers, HTTP Basic, and OAuth2 client credentials with a cached token.

Each scheme gives the headers for one request. `invalidate(headers)` is called when the upstream answered
401 to a request carrying those headers: a refreshable scheme (OAuth2) drops that token so the next call
fetches a new one; the others cannot do better and the 401 stands.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote_plus

import aiohttp
from yarl import URL

from connectors.errors import AuthFailed, BadResponse
from connectors.http import JsonResponse, request_json

__all__ = ["Auth", "BasicAuth", "HeaderAuth", "NoAuth", "OAuth2ClientCredentials", "authorised_json"]


class Auth(Protocol):
    refreshable: bool

    async def headers(self) -> Mapping[str, str]: ...

    def invalidate(self, used: Mapping[str, str]) -> None: ...


class NoAuth:
    refreshable = False

    async def headers(self) -> Mapping[str, str]:
        return {}

    def invalidate(self, used: Mapping[str, str]) -> None:
        return None


class HeaderAuth:
    """A fixed header: `Authorization: Bearer <token>` or an API-key header."""

    refreshable = False

    def __init__(self, header: str, value: str) -> None:
        self._headers = {header: value}

    @classmethod
    def bearer(cls, token: str) -> HeaderAuth:
        return cls("Authorization", f"Bearer {token}")

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    def invalidate(self, used: Mapping[str, str]) -> None:
        return None


class BasicAuth(HeaderAuth):
    """HTTP Basic (RFC 7617), UTF-8 credentials."""

    def __init__(self, username: str, password: str) -> None:
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        super().__init__("Authorization", f"Basic {encoded}")


class OAuth2ClientCredentials:
    """OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with the bearer token cached until just before expiry.

    Concurrent callers share one token request (a lock, checked twice). The client authenticates with HTTP
    Basic as §2.3.1 recommends. A refused client (400 `invalid_client` or 401/403) is `AuthFailed`; a token
    response that is not a bearer token with a lifetime is `BadResponse`.
    """

    refreshable = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        expiry_margin: float = 30.0,
        default_lifetime: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._token_url = token_url
        # RFC 6749 §2.3.1: both are form-urlencoded before they become Basic credentials.
        self._client = BasicAuth(quote_plus(client_id), quote_plus(client_secret))
        self._scope = scope
        self._expiry_margin = expiry_margin
        self._default_lifetime = default_lifetime
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    def invalidate(self, used: Mapping[str, str]) -> None:
        # Only drop the token that failed: a concurrent caller may already have fetched a newer one.
        if self._token is not None and used.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    async def token(self) -> str:
        if self._valid():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._valid():
                await self._fetch()
            assert self._token is not None
            return self._token

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        try:
            response = await request_json(
                self._session,
                "POST",
                self._token_url,
                what="token request",
                data=form,
                headers=await self._client.headers(),
            )
        except BadResponse as exc:
            if exc.status == 400:  # RFC 6749 §5.2: invalid_client / unauthorized_client come back as 400
                raise AuthFailed("token request: the upstream refused our client credentials", status=400) from exc
            raise
        body = response.body
        if not isinstance(body, dict):
            raise BadResponse("token request: the token response is not a JSON object")
        token, token_type, lifetime = body.get("access_token"), body.get("token_type"), body.get("expires_in")
        if not isinstance(token, str) or not token or str(token_type).lower() != "bearer":
            raise BadResponse("token request: the token response has no bearer access_token")
        if lifetime is None:
            lifetime = self._default_lifetime
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            raise BadResponse("token request: expires_in is not a positive number")
        margin = min(self._expiry_margin, lifetime * 0.1)
        self._token = token
        self._expires_at = self._clock() + lifetime - margin
        self.tokens_fetched += 1


async def authorised_json(
    session: aiohttp.ClientSession,
    auth: Auth,
    url: str | URL,
    *,
    what: str,
    params: Mapping[str, str] | None = None,
    not_found: tuple[int, ...] = (404,),
) -> JsonResponse:
    """GET with the auth's headers; on a 401, a refreshable auth drops that token and the call is made once more."""
    for attempt in (1, 2):
        headers = await auth.headers()
        try:
            return await request_json(
                session, "GET", url, what=what, headers=headers, params=params, not_found=not_found
            )
        except AuthFailed as exc:
            if exc.status != 401 or attempt == 2 or not auth.refreshable:
                raise
            auth.invalidate(headers)
    raise AssertionError("unreachable")
