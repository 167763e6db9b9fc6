"""HTTP for connectors: the one shared aiohttp session, and JSON requests whose failures are typed.

Every connector talks to its upstream through `request_json`, so status codes, transport errors, oversized
or unparseable bodies and `Retry-After` are interpreted in one place and always the same way:

* 2xx (as expected) → parsed JSON; a status listed as "not found" → no body;
* 401 / 403 → `AuthFailed` (a caller holding a token may refresh it once and try again);
* 408, 429, 5xx, refused / reset connections → `UpstreamUnavailable` (retryable, with `retry_after`);
* anything else, and bodies that are not JSON or too large → `BadResponse`;
* aiohttp's own timeouts → `UpstreamTimeout` (the resilience layer also bounds every attempt itself).

Messages never carry URLs (they can hold personal identifiers), credentials or upstream bodies.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
import orjson
from yarl import URL

from connectors.errors import AuthFailed, BadResponse, UpstreamError, UpstreamTimeout, UpstreamUnavailable

__all__ = ["MAX_BODY_BYTES", "JsonResponse", "create_session", "parse_retry_after", "request_json"]

MAX_BODY_BYTES = 8 * 1024 * 1024  # a person's record is kilobytes; megabytes means something is wrong
USER_AGENT = "citizen-hub-connectors/0.1"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def create_session(
    *, limit: int = 200, limit_per_host: int = 50, connect_timeout: float = 5.0
) -> aiohttp.ClientSession:
    """The session the composition root creates once and hands to the registry (it also closes it).

    Pool limits bound sockets per process; timeouts per call are set by the resilience layer, so the
    session's own total timeout is off and only connecting is bounded here.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
        trust_env=False,  # proxies are an operator decision made in code, not by whatever is in the environment
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class JsonResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON; None for a "not found" status

    @property
    def found(self) -> bool:
        return self.body is not None


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    expected: Collection[int] = (200,),
    not_found: Collection[int] = (),
    max_bytes: int = MAX_BODY_BYTES,
) -> JsonResponse:
    """One HTTP request expecting JSON; every failure is raised as an `UpstreamError` subclass.

    ``what`` names the call in messages ("profile batch", "token"): it is what a steward reads.
    """
    try:
        async with session.request(
            method,
            url,
            headers={
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if json is not None else {}),
                **(headers or {}),
            },
            params=params,
            data=orjson.dumps(json) if json is not None else data,
            allow_redirects=False,
        ) as response:
            status = response.status
            if status in not_found:
                return JsonResponse(status, response.headers, None)
            if status not in expected:
                raise _status_error(what, status, response.headers)
            raw = await _read_limited(response, what, max_bytes)
    except UpstreamError:
        raise
    except TimeoutError as exc:  # aiohttp's ServerTimeoutError and socket timeouts are TimeoutErrors
        raise UpstreamTimeout(f"{what}: the upstream timed out") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UpstreamUnavailable(f"{what}: the response was cut short") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnavailable(f"{what}: cannot reach the upstream ({type(exc).__name__})") from exc
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadResponse(f"{what}: the response is not valid JSON", status=status) from exc
    return JsonResponse(status, response.headers, body)


def _status_error(what: str, status: int, headers: Mapping[str, str]) -> UpstreamError:
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status in (401, 403):
        return AuthFailed(f"{what}: the upstream refused our credentials (HTTP {status})", status=status)
    if status in _RETRYABLE_STATUS or status >= 500:
        reason = "rate limited by the upstream" if status == 429 else "the upstream failed"
        return UpstreamUnavailable(f"{what}: {reason} (HTTP {status})", status=status, retry_after=retry_after)
    return BadResponse(f"{what}: unexpected HTTP {status}", status=status)


async def _read_limited(response: aiohttp.ClientResponse, what: str, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise BadResponse(f"{what}: response of {declared} bytes is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise BadResponse(f"{what}: response is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
