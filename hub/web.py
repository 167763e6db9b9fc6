"""The hub's own pages: a citizen's "where I stand" (`/me`) and the steward console (`/console`).

Server-light on purpose: the pages are static HTML plus a small vanilla JS module that calls the hub's
public GraphQL API (HTTP, and graphql-transport-ws for live updates) with the signed-in user's bearer
token, so every read passes the same policy and audit as any other client; the server reads no personal
data for them. Styles, fonts and scripts come from pinned npm packages in `web/` (`govuk-frontend`,
`graphql-ws`), installed with `npm ci` (`make serve` / `make test` do it) and served under `/assets`.

Dev sign-in (`/dev/sign-in`) exists only with dev tokens (`HUB_ENV=dev` on the local dev key pair, see
`Settings.dev_tokens`): it mints a short-lived token for a seeded citizen or a steward. Otherwise its
routes are not mounted at all, and the handlers check again.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.registry import ConnectorSpec
from graph import maintenance
from graph.errors import NotFound
from graph.identity import link_identity
from hub.auth import dev_citizen_subject, ensure_dev_keys, mint_token
from hub.settings import Settings

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent / "web"
PAGES = WEB / "pages"
NODE_MODULES = WEB / "node_modules"
DEV_TOKEN_TTL = 15 * 60  # seconds: a dev sign-in lasts a quarter of an hour
DEV_STEWARD_SUBJECT = "dev-steward"
DEV_SIGN_IN_CHOICES = 20
MAX_SIGN_IN_BODY = 1024

# The pages load nothing from elsewhere and run no inline script; they connect only to this hub.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Consentable:
    """A connector a citizen may allow: its public declaration, no personal data."""

    name: str
    description: str
    purpose: str


def _page(route: str, name: str) -> Route:
    """`route` serves web/pages/<name>.html, as it is: the page's module does the rest."""
    path = PAGES / f"{name}.html"

    async def page(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    return Route(route, page, methods=["GET"])


def _static(path: Path) -> StaticFiles:
    # check_dir=False: without `npm ci` in web/ the hub still starts (pages unstyled); a warning says why.
    return StaticFiles(directory=path, check_dir=False)


def web_routes(settings: Settings, connectors: list[ConnectorSpec]) -> list[BaseRoute]:
    """The pages, their assets and (dev tokens only) the dev sign-in."""
    if not (NODE_MODULES / "govuk-frontend").is_dir():
        log.warning("web/node_modules is missing: run `npm ci` in web/ (make serve does) for the pages' styles")
    consentable = [
        Consentable(s.config.name, s.config.description, s.config.purpose)
        for s in connectors
        if s.config.consent_required
    ]

    async def consent_sources(request: Request) -> Response:
        return JSONResponse([asdict(c) for c in consentable], headers={"Cache-Control": "no-cache"})

    routes: list[BaseRoute] = [
        _page("/me", "me"),
        _page("/console", "console"),
        Route("/me/consentable", consent_sources, methods=["GET"]),
        Mount("/assets/app", _static(WEB / "static"), name="web-app"),
        Mount("/assets/govuk", _static(NODE_MODULES / "govuk-frontend" / "dist" / "govuk"), name="web-govuk"),
        Mount("/assets/graphql-ws", _static(NODE_MODULES / "graphql-ws" / "dist"), name="web-graphql-ws"),
        # govuk-frontend's CSS asks for /assets/fonts/… and /assets/images/…
        Mount("/assets", _static(NODE_MODULES / "govuk-frontend" / "dist" / "govuk" / "assets"), name="web-assets"),
    ]
    if settings.dev_tokens:
        routes += [
            _page("/dev/sign-in", "sign-in"),
            Route("/dev/sign-in/choices", sign_in_choices, methods=["GET"]),
            Route("/dev/sign-in", sign_in, methods=["POST"]),
        ]
    return routes


def _refuse(message: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers={"Cache-Control": "no-store"})


def _dev_only(request: Request) -> JSONResponse | None:
    """Refused unless dev tokens are on and the caller is on this machine (belt and braces: the routes exist
    only with dev tokens)."""
    settings: Settings = request.app.state.settings
    if not settings.dev_tokens:
        return _refuse("dev sign-in exists only in a dev hub on the dev key pair", "NOT_FOUND", 404)
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return _refuse("dev sign-in is for this machine only", "FORBIDDEN", 403)
    return None


async def sign_in_choices(request: Request) -> Response:
    """Parents of the newest cases, by id only (no names: the page reads nothing personal unaudited)."""
    if (refused := _dev_only(request)) is not None:
        return refused
    cases = await maintenance.newest_case_parents(request.app.state.resources.graph, DEV_SIGN_IN_CHOICES)
    body = [{"caseId": c.case_id, "scheme": c.scheme, "paying": c.paying, "receiving": c.receiving} for c in cases]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def sign_in(request: Request) -> Response:
    """`{"personId": ID}` (a citizen, linked to that person) or `{"role": "steward"}` -> a short-lived token."""
    if (refused := _dev_only(request)) is not None:
        return refused
    body = await _json_body(request)
    if not isinstance(body, dict):
        return _refuse('send a JSON object: {"personId": "<id>"} or {"role": "steward"}', "BAD_REQUEST", 400)
    settings: Settings = request.app.state.settings
    private, _ = ensure_dev_keys(settings.data_dir)
    common: dict[str, Any] = {
        "issuer": settings.auth_issuer,
        "audience": settings.auth_audience,
        "ttl": DEV_TOKEN_TTL,
    }
    role = body.get("role")
    person_id = body.get("personId")
    if role == "steward" and person_id is None:
        token = mint_token(private.read_bytes(), subject=DEV_STEWARD_SUBJECT, roles=["steward"], **common)
        return _token(token, "steward", "/console")
    if role is not None:
        return _refuse("role must be 'steward' (or send personId for a citizen)", "BAD_REQUEST", 400)
    if not isinstance(person_id, str) or not _is_uuid(person_id):
        return _refuse("personId must be a person's hub id (a UUID)", "BAD_REQUEST", 400)
    subject = dev_citizen_subject(person_id)
    try:
        await link_identity(
            request.app.state.resources.graph,
            person_id,
            settings.auth_citizen_source,
            subject,
            method="dev-sign-in",
            linked_by="web dev sign-in",
        )
    except NotFound:
        return _refuse("no person has this id", "NOT_FOUND", 404)
    token = mint_token(private.read_bytes(), subject=subject, vot="Cl.Cm.P2", **common)
    return _token(token, "citizen", "/me")


def _token(token: str, kind: str, page: str) -> JSONResponse:
    return JSONResponse(
        {"token": token, "kind": kind, "expiresIn": DEV_TOKEN_TTL, "page": page}, headers={"Cache-Control": "no-store"}
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def _json_body(request: Request) -> object:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None  # a cross-site form cannot send application/json
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SIGN_IN_BODY:
            return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
