"""`request_json` against a real local server: every status, transport failure and body problem is typed."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from support import serving

from connectors.errors import AuthFailed, BadResponse, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from connectors.http import parse_retry_after, request_json


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async def status(request: web.Request) -> web.StreamResponse:
        code = int(request.match_info["code"])
        headers = {"Retry-After": request.query["retry_after"]} if "retry_after" in request.query else None
        return web.json_response({"status": code}, status=code, headers=headers)

    async def body(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind == "big":
            return web.Response(body=b'{"pad": "' + b"x" * 5000 + b'"}', content_type="application/json")
        if kind == "html":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if kind == "chunked-big":
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(10):
                await response.write(b"x" * 1000)
            return response
        return web.json_response({"ok": True, "echo": dict(request.query)})

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/body/json")

    app = web.Application()
    app.add_routes([web.get("/status/{code}", status), web.get("/body/{kind}", body), web.get("/redirect", redirect)])
    async with serving(app) as url:
        yield url


async def test_json_is_parsed_and_params_sent(upstream: str, session: aiohttp.ClientSession) -> None:
    response = await request_json(session, "GET", f"{upstream}/body/json", what="probe", params={"a": "1"})
    assert response.status == 200 and response.body == {"ok": True, "echo": {"a": "1"}} and response.found


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [
        (500, UpstreamUnavailable, True),
        (502, UpstreamUnavailable, True),
        (503, UpstreamUnavailable, True),
        (429, UpstreamUnavailable, True),
        (408, UpstreamUnavailable, True),
        (401, AuthFailed, False),
        (403, AuthFailed, False),
        (400, BadResponse, False),
        (404, BadResponse, False),
        (418, BadResponse, False),
    ],
)
async def test_statuses_map_to_typed_errors(
    upstream: str, session: aiohttp.ClientSession, code: int, error: type[UpstreamError], retryable: bool
) -> None:
    with pytest.raises(error) as caught:
        await request_json(session, "GET", f"{upstream}/status/{code}", what="probe")
    assert type(caught.value) is error and caught.value.retryable is retryable
    assert caught.value.status == code and f"HTTP {code}" in str(caught.value)
    assert upstream not in str(caught.value)


async def test_not_found_statuses_give_no_body(upstream: str, session: aiohttp.ClientSession) -> None:
    response = await request_json(session, "GET", f"{upstream}/status/404", what="probe", not_found=(404,))
    assert response.status == 404 and response.body is None and not response.found


async def test_retry_after_travels_with_the_error(upstream: str, session: aiohttp.ClientSession) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        await request_json(session, "GET", f"{upstream}/status/429?retry_after=7", what="probe")
    assert caught.value.retry_after == 7.0 and "rate limited" in str(caught.value)


@pytest.mark.parametrize("kind", ["big", "chunked-big"])
async def test_oversized_bodies_are_refused(upstream: str, session: aiohttp.ClientSession, kind: str) -> None:
    with pytest.raises(BadResponse, match="limit"):
        await request_json(session, "GET", f"{upstream}/body/{kind}", what="probe", max_bytes=4096)


async def test_non_json_is_a_bad_response(upstream: str, session: aiohttp.ClientSession) -> None:
    with pytest.raises(BadResponse, match="not valid JSON"):
        await request_json(session, "GET", f"{upstream}/body/html", what="probe")


async def test_redirects_are_not_followed(upstream: str, session: aiohttp.ClientSession) -> None:
    with pytest.raises(BadResponse, match="HTTP 302"):
        await request_json(session, "GET", f"{upstream}/redirect", what="probe")


async def test_a_refused_connection_is_unavailable(session: aiohttp.ClientSession) -> None:
    with pytest.raises(UpstreamUnavailable, match="cannot reach the upstream"):
        await request_json(session, "GET", "http://127.0.0.1:9/x", what="probe")


async def test_aiohttp_timeouts_are_upstream_timeouts(upstream: str) -> None:
    slow = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1e-6))
    async with slow:
        with pytest.raises(UpstreamTimeout):
            await request_json(slow, "GET", f"{upstream}/body/json", what="probe")


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    for unusable in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(unusable) is None
