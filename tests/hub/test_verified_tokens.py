"""Verified tokens are remembered, but never past their expiry, nor past their key's removal or replacement."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jwt
import pytest
from conftest import ISSUER

from hub.auth import AuthError, KeySource, TokenVerifier, ensure_dev_keys, mint_token


def setup(tmp_path: Path, kid: str = "k1") -> tuple[bytes, dict, Path]:  # type: ignore[type-arg]
    private, jwks = ensure_dev_keys(tmp_path / kid)
    doc = json.loads(jwks.read_text())
    doc["keys"][0]["kid"] = kid
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(doc))
    return private.read_bytes(), doc, path


def verifier(path: Path) -> TokenVerifier:
    return TokenVerifier(KeySource(file=path), issuer=ISSUER, audience="citizen-hub", algorithms=["RS256"], leeway=0)


def token(private: bytes, kid: str = "k1", ttl: int = 3600) -> str:
    return mint_token(
        private, issuer=ISSUER, audience="citizen-hub", subject="s", roles=["caseworker"], kid=kid, ttl=ttl
    )


async def test_a_remembered_token_skips_the_signature_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private, _, path = setup(tmp_path)
    v = verifier(path)
    t = token(private)
    first = await v.claims(t)
    calls = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = await v.claims(t)
    assert second == first and calls == []
    second["sub"] = "tampered"  # callers get a copy
    assert (await v.claims(t))["sub"] == "s"


async def test_a_removed_key_refuses_a_remembered_token(tmp_path: Path) -> None:
    private, _, path = setup(tmp_path)
    other_private, other, _ = setup(tmp_path / "other", "k2")
    v = verifier(path)
    t = token(private)
    assert (await v.claims(t))["sub"] == "s"
    path.write_text(json.dumps(other))
    os.utime(path, (1, 2))
    with pytest.raises(AuthError, match="unknown key"):
        await v.claims(t)


async def test_a_key_replaced_under_the_same_kid_refuses_a_remembered_token(tmp_path: Path) -> None:
    private, _, path = setup(tmp_path)
    _, impostor, _ = setup(tmp_path / "impostor", "k1")  # another key pair, same kid
    v = verifier(path)
    t = token(private)
    await v.claims(t)
    path.write_text(json.dumps(impostor))
    os.utime(path, (1, 2))
    with pytest.raises(AuthError, match="signature does not verify"):
        await v.claims(t)


async def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    private, _, path = setup(tmp_path)
    v = verifier(path)
    t = token(private, ttl=3)
    await v.claims(t)
    time.sleep(3.5)
    with pytest.raises(AuthError, match="expired"):
        await v.claims(t)
