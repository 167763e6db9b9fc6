"""hub.web over HTTP: the pages' security headers and the dev sign-in, which production cannot have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from case_support import case_family
from conftest import settings_for
from starlette.applications import Starlette

from graph.driver import Graph
from hub.app import create_app
from hub.embedded import ArcadeDBServer, ValkeyServer
from hub.settings import Settings, load_settings


def client_for(app: Starlette, host: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 5000)), base_url="http://hub.test")


@pytest.fixture(scope="module")
async def dev_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Starlette]:
    """A dev hub on its own dev key pair: the one kind of hub with a dev sign-in."""
    dev = settings.model_copy(update={"auth_jwks_file": None, "data_dir": tmp_path_factory.mktemp("web-dev")})
    application = create_app(dev)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize("path", ["/me", "/console", "/dev/sign-in"])
async def test_pages_are_static_and_locked_down(dev_app: Starlette, path: str) -> None:
    async with client_for(dev_app) as c:
        response = await c.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    # No inline script: all behaviour is in modules served from /assets/app.
    assert "<script>" not in response.text and '<script type="module" src="/assets/app/' in response.text


async def test_assets_come_from_the_pinned_npm_packages(dev_app: Starlette) -> None:
    async with client_for(dev_app) as c:
        css = await c.get("/assets/govuk/govuk-frontend.min.css")
        font = await c.get("/assets/fonts/bold-b542beb274-v2.woff2")
        ws = await c.get("/assets/graphql-ws/client.js")
        missing = await c.get("/assets/app/nothing.js")
    assert css.status_code == 200 and "govuk-" in css.text
    assert font.status_code == 200
    assert ws.status_code == 200 and "createClient" in ws.text
    assert missing.status_code == 404


async def test_dev_sign_in_mints_a_short_lived_citizen_token_that_reads_me(dev_app: Starlette, graph: Graph) -> None:
    fam = await case_family(graph, payment=False)
    async with client_for(dev_app) as c:
        choices = (await c.get("/dev/sign-in/choices")).json()
        assert {
            "caseId": fam.case.id,
            "scheme": "COLLECT_AND_PAY",
            "paying": fam.payer.id,
            "receiving": fam.receiver.id,
        } in choices
        signed_in = await c.post("/dev/sign-in", json={"personId": fam.payer.id})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.headers["cache-control"] == "no-store"
        body = signed_in.json()
        assert body["kind"] == "citizen" and body["page"] == "/me" and body["expiresIn"] == 900
        me = await c.post(
            "/graphql",
            json={"query": "{ me { id maintenanceCases { id } } }"},
            headers={"authorization": f"Bearer {body['token']}"},
        )
    assert me.json()["data"]["me"] == {"id": fam.payer.id, "maintenanceCases": [{"id": fam.case.id}]}


async def test_dev_sign_in_as_a_steward(dev_app: Starlette) -> None:
    async with client_for(dev_app) as c:
        body = (await c.post("/dev/sign-in", json={"role": "steward"})).json()
        assert body["kind"] == "steward" and body["page"] == "/console"
        # A steward states the purpose, as the console does; without it the hub asks for one.
        refused = await c.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"authorization": f"Bearer {body['token']}"}
        )
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"personId": "not-a-uuid"}, 400, "BAD_REQUEST"),
        ({"personId": "6f1c1d8e-0000-4000-8000-000000000000"}, 404, "NOT_FOUND"),
        ({"role": "auditor"}, 400, "BAD_REQUEST"),
        ({"role": "steward", "personId": "6f1c1d8e-0000-4000-8000-000000000000"}, 400, "BAD_REQUEST"),
        (["steward"], 400, "BAD_REQUEST"),
        ({"personId": 7}, 400, "BAD_REQUEST"),
    ],
)
async def test_bad_sign_in_requests_are_refused_with_a_code(
    dev_app: Starlette, body: object, status: int, code: str
) -> None:
    async with client_for(dev_app) as c:
        response = await c.post("/dev/sign-in", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "token" not in response.json()


async def test_a_form_post_or_a_huge_body_gets_no_token(dev_app: Starlette) -> None:
    async with client_for(dev_app) as c:
        form = await c.post("/dev/sign-in", data={"role": "steward"})
        huge = await c.post(
            "/dev/sign-in",
            content=b'{"role": "steward", "x": "' + b"a" * 5000 + b'"}',
            headers={"content-type": "application/json"},
        )
    assert form.status_code == 400 and "token" not in form.json()
    assert huge.status_code == 400 and "token" not in huge.json()


async def test_dev_sign_in_is_for_this_machine_only(dev_app: Starlette) -> None:
    async with client_for(dev_app, host="203.0.113.9") as c:
        response = await c.post("/dev/sign-in", json={"role": "steward"})
        choices = await c.get("/dev/sign-in/choices")
    assert response.status_code == 403 and "token" not in response.json()
    assert choices.status_code == 403


async def test_no_dev_sign_in_on_configured_keys_or_in_production(
    servers: tuple[ArcadeDBServer, ValkeyServer], keys: tuple[bytes, Path]
) -> None:
    """With real keys (any env) or in production the sign-in is not there at all; the pages still are."""
    for settings in (settings_for(*servers, keys[1]), settings_for(*servers, keys[1], env="production")):
        assert not settings.dev_tokens
        app = create_app(settings)
        async with client_for(app) as c:
            assert (await c.get("/me")).status_code == 200
            for method, path in (("GET", "/dev/sign-in"), ("POST", "/dev/sign-in"), ("GET", "/dev/sign-in/choices")):
                response = await c.request(method, path, json={"role": "steward"})
                assert response.status_code in (404, 405), (method, path, response.status_code)
                assert "token" not in response.text


def test_production_settings_cannot_turn_dev_tokens_on(tmp_path: Path) -> None:
    """Production refuses to start without configured keys, so there is never a dev key pair to mint with."""
    from hub.settings import SettingsError

    with pytest.raises(SettingsError, match="production needs"):
        load_settings(env="production")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    assert not load_settings(env="production", auth_jwks_file=jwks).dev_tokens
