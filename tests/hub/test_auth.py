"""Bearer tokens: every attack refused with a clear, coded error; good tokens become principals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import ISSUER, MintToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth import DEV_KID, mint_token

QUERY = {"query": '{ personByNino(nino: "AB123456C") { id } }'}
PURPOSE = {"x-purpose": "child-maintenance"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": "citizen-hub",
        "sub": "attacker",
        "iat": now,
        "exp": now + 600,
        "roles": ["caseworker"],
    }
    return {**base, **over}


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    h = b64(json.dumps(header).encode())
    p = b64(json.dumps(payload).encode())
    return f"{h}.{p}.{b64(signature)}"


async def refused(client: httpx.AsyncClient, token: str | None, *, status: int = 401) -> dict[str, Any]:
    headers = dict(PURPOSE)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post("/graphql", json=QUERY, headers=headers)
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    return error  # type: ignore[no-any-return]


async def test_a_good_token_works(client: httpx.AsyncClient, token: MintToken) -> None:
    response = await client.post(
        "/graphql", json=QUERY, headers={**PURPOSE, "authorization": f"Bearer {token(['caseworker'])}"}
    )
    assert response.status_code == 200 and "errors" not in response.json()


async def test_missing_or_malformed_credentials(client: httpx.AsyncClient) -> None:
    assert (await refused(client, None))["extensions"]["code"] == "UNAUTHENTICATED"
    response = await client.post("/graphql", json=QUERY, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "not a well-formed JWT" in (await refused(client, "not-a-jwt"))["message"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "another-service"}, "audience"),
        ({"exp": None}, "'exp' claim"),
    ],
)
async def test_claims_are_checked(
    client: httpx.AsyncClient, keys: tuple[bytes, Path], over: dict[str, Any], message: str
) -> None:
    payload = {k: v for k, v in claims(**over).items() if v is not None}
    token = jwt.encode(payload, keys[0], algorithm="RS256", headers={"kid": DEV_KID})
    assert message in (await refused(client, token))["message"]


async def test_small_clock_skew_is_tolerated(client: httpx.AsyncClient, keys: tuple[bytes, Path]) -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 10), keys[0], algorithm="RS256", headers={"kid": DEV_KID})
    response = await client.post("/graphql", json=QUERY, headers={**PURPOSE, "authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_alg_none_is_refused(client: httpx.AsyncClient) -> None:
    token = unsigned({"alg": "none", "kid": DEV_KID, "typ": "JWT"}, claims())
    assert "'none' are not accepted" in (await refused(client, token))["message"]


async def test_hs_rs_confusion_is_refused(client: httpx.AsyncClient, keys: tuple[bytes, Path]) -> None:
    """The classic attack: sign HS256 with the server's *public* key as the HMAC secret."""
    jwk = json.loads(keys[1].read_text())["keys"][0]
    public = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": DEV_KID}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64(signature)}"
    assert "'HS256' are not accepted" in (await refused(client, token))["message"]


async def test_key_type_must_match_the_algorithm(client: httpx.AsyncClient) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": DEV_KID})
    assert "does not match the signing key's type" in (await refused(client, token))["message"]


async def test_wrong_key_and_unknown_kid(client: httpx.AsyncClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = mint_token(pem, issuer=ISSUER, audience="citizen-hub", subject="x", roles=["caseworker"])
    assert "signature does not verify" in (await refused(client, forged))["message"]
    unknown = mint_token(pem, issuer=ISSUER, audience="citizen-hub", subject="x", roles=["caseworker"], kid="nope")
    assert "unknown key" in (await refused(client, unknown))["message"]


async def test_tampered_payload_is_refused(client: httpx.AsyncClient, token: MintToken) -> None:
    header, payload, signature = token(["partner"], department="HMRC", purpose="earnings-verification").split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["roles"] = ["caseworker"]
    tampered = f"{header}.{b64(json.dumps(data).encode())}.{signature}"
    assert "signature does not verify" in (await refused(client, tampered))["message"]


async def test_bad_roles_claim(client: httpx.AsyncClient, keys: tuple[bytes, Path]) -> None:
    token = jwt.encode(claims(roles="caseworker"), keys[0], algorithm="RS256", headers={"kid": DEV_KID})
    assert "roles claim" in (await refused(client, token))["message"]
    token = jwt.encode(claims(roles=["superuser"]), keys[0], algorithm="RS256", headers={"kid": DEV_KID})
    assert (await refused(client, token, status=403))["extensions"]["code"] == "FORBIDDEN"


async def test_purpose_is_required_and_checked(client: httpx.AsyncClient, token: MintToken) -> None:
    bearer = {"authorization": f"Bearer {token(['caseworker'])}"}
    response = await client.post("/graphql", json=QUERY, headers=bearer)
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PURPOSE_REQUIRED" and "X-Purpose" in error["message"]
    response = await client.post("/graphql", json=QUERY, headers={**bearer, "x-purpose": "curiosity"})
    assert response.status_code == 403 and "unknown purpose" in response.json()["errors"][0]["message"]


async def test_a_partner_cannot_choose_its_own_purpose(client: httpx.AsyncClient, token: MintToken) -> None:
    """A partner's purpose comes from its token (its agreement), not from a header it sends."""
    t = token(["partner"], department="HMRC", purpose="earnings-verification")
    response = await client.post(
        "/graphql",
        json={"query": '{ personByNino(nino: "AB123456C") { id } people(filter: {familyName: "X"}) { nodes { id } } }'},
        headers={"authorization": f"Bearer {t}", "x-purpose": "child-maintenance"},
    )
    body = response.json()
    assert body["data"]["people"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["people"]
    for unknown in ({"department": "DWP"}, {}):
        t = token(["partner"], purpose="earnings-verification", **unknown)
        response = await client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {t}"})
        assert response.status_code == 403


async def test_graphiql_page_needs_no_token_but_queries_do(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401
