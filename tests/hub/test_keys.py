"""Verification keys: a JWKS file reloaded when it changes, a JWKS URL cached and re-fetched on rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aiohttp import web
from conftest import ISSUER
from support import serving

from hub.auth import AuthError, KeySource, TokenVerifier, ensure_dev_keys, mint_token


def jwks_of(folder: Path, kid: str) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    private, jwks = ensure_dev_keys(folder)
    doc = json.loads(jwks.read_text())
    doc["keys"][0]["kid"] = kid
    return private.read_bytes(), doc


def verifier(keys: KeySource) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience="citizen-hub", algorithms=["RS256"], leeway=5)


def token(private: bytes, kid: str) -> str:
    return mint_token(private, issuer=ISSUER, audience="citizen-hub", subject="s", roles=["caseworker"], kid=kid)


async def test_jwks_file_rotation(tmp_path: Path) -> None:
    old_private, old = jwks_of(tmp_path / "old", "k-old")
    new_private, new = jwks_of(tmp_path / "new", "k-new")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(old))
    v = verifier(KeySource(file=path))
    assert (await v.claims(token(old_private, "k-old")))["sub"] == "s"
    with pytest.raises(AuthError, match="unknown key"):
        await v.claims(token(new_private, "k-new"))
    path.write_text(json.dumps({"keys": old["keys"] + new["keys"]}))
    os.utime(path, (1, 2))  # a different mtime even within the same clock tick
    assert (await v.claims(token(new_private, "k-new")))["sub"] == "s"


async def test_jwks_url_is_cached_and_refetched_for_a_new_kid(tmp_path: Path) -> None:
    old_private, old = jwks_of(tmp_path / "old", "u-old")
    new_private, new = jwks_of(tmp_path / "new", "u-new")
    served = {"doc": old, "hits": 0}

    async def jwks(request: web.Request) -> web.Response:
        served["hits"] += 1
        return web.json_response(served["doc"])

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    async with serving(app) as base:
        v = verifier(KeySource(url=f"{base}/.well-known/jwks.json", refetch_cooldown=0))
        for _ in range(5):
            await v.claims(token(old_private, "u-old"))
        assert served["hits"] == 1, "the key set is cached"
        served["doc"] = {"keys": old["keys"] + new["keys"]}
        assert (await v.claims(token(new_private, "u-new")))["sub"] == "s"
        assert served["hits"] == 2, "an unknown kid triggers one re-fetch"


async def test_unreachable_jwks_url_is_a_clear_503(tmp_path: Path) -> None:
    private, _ = jwks_of(tmp_path, "any")
    v = verifier(KeySource(url="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(AuthError) as info:
        await v.claims(token(private, "any"))
    assert info.value.status == 503
