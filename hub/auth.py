"""Bearer tokens: verification against configured keys, and the principal behind a request.

Tokens are JWTs (OIDC style) signed with an asymmetric key from a JWKS (a file, reloaded when it
changes, or a URL, cached and re-fetched when an unknown `kid` appears: key rotation). Checked:
algorithm (an allow-list of asymmetric algorithms that must also match the key's type, so neither
`none` nor an RS/HS confusion can pass), signature, issuer, audience, expiry and not-before (with a
small leeway). Claims follow GOV.UK One Login for citizens (pairwise `sub`, `vot` such as
`Cl.Cm.P2`); staff tokens carry `roles`; partner tokens carry `department` and `purpose`.

A dev key pair (under the data directory) and `hub token` exist for local use only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.algorithms import RSAAlgorithm

from graph.driver import Graph
from graph.identity import people_for_identities
from hub.errors import Refusal
from hub.settings import Settings
from schema.policy import ROLES, Policy
from schema.principal import Principal

DEV_KID = "hub-dev-1"
PURPOSE_HEADER = "x-purpose"
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class AuthError(Refusal):
    """Refused: `status` 401 (who are you?) or 403 (not for this); `code` goes to extensions.code."""

    def __init__(self, message: str, code: str = "UNAUTHENTICATED", status: int = 401) -> None:
        headers = {}
        if status == 401:
            description = message.replace('"', "'")
            headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'
        super().__init__(message, code, status, headers)


class KeySource:
    """Verification keys by `kid`, from a JWKS file or URL."""

    def __init__(self, *, file: Path | None = None, url: str | None = None, refetch_cooldown: float = 30) -> None:
        """`refetch_cooldown`: at most one forced re-fetch per this many seconds, so tokens naming made-up
        `kid`s cannot turn the hub into a flood of requests to the identity provider."""
        if (file is None) == (url is None):
            raise ValueError("give exactly one of a JWKS file or URL")
        self.file = file
        self.client = (
            PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=5, cooldown_duration=refetch_cooldown)
            if url
            else None
        )
        self._mtime = -1.0
        self._keys: dict[str, PyJWK] = {}

    def _load_file(self) -> None:
        assert self.file is not None
        mtime = self.file.stat().st_mtime
        if mtime != self._mtime:
            jwks = PyJWKSet.from_json(self.file.read_text(encoding="utf-8"))
            self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
            self._mtime = mtime

    async def key(self, kid: str) -> PyJWK:
        if self.client is not None:
            try:
                # PyJWKClient is synchronous (urllib); its cache makes the common case a dict lookup.
                return await asyncio.to_thread(self.client.get_signing_key, kid)
            except jwt.PyJWKClientConnectionError as exc:
                raise AuthError("the token's signing keys cannot be fetched right now", status=503) from exc
            except jwt.PyJWKClientError as exc:
                raise AuthError("the token is signed with an unknown key") from exc
        try:
            self._load_file()
        except (OSError, jwt.PyJWKSetError, json.JSONDecodeError) as exc:
            raise AuthError("the hub's verification keys are unreadable", status=503) from exc
        found = self._keys.get(kid)
        if found is None:
            raise AuthError("the token is signed with an unknown key")
        return found


class TokenVerifier:
    """Verifies tokens; remembers the ones that verified (bounded, for at most `VERIFIED_TTL` seconds).

    A client sends the same token with every request, and checking its signature is most of what
    authentication costs (py-spy: ~6% of the hub's CPU per request). A remembered token is still
    refused once it expires (exp + leeway), and its key is looked up again on every use: a key removed
    from the JWKS, or replaced under the same `kid`, makes the token be verified afresh (and refused).
    """

    VERIFIED_TTL = 60.0
    VERIFIED_MAX = 10_000

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, algorithms: list[str], leeway: float) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        self.leeway = leeway
        # token -> (claims, kid, the key that verified it, monotonic time it was verified)
        self._verified: OrderedDict[str, tuple[dict[str, Any], str, Any, float]] = OrderedDict()

    async def claims(self, token: str) -> dict[str, Any]:
        known = self._verified.get(token)
        if known is not None:
            claims, kid, key, at = known
            fresh = time.monotonic() - at < self.VERIFIED_TTL and time.time() < claims["exp"] + self.leeway
            if fresh:
                try:
                    same_key = (await self.keys.key(kid)).key == key
                except AuthError:
                    same_key = False  # the key is gone: verify afresh, which refuses with the reason
                if same_key:
                    return dict(claims)
            self._verified.pop(token, None)
        claims, kid, key = await self._verify(token)
        self._verified[token] = (claims, kid, key, time.monotonic())
        if len(self._verified) > self.VERIFIED_MAX:
            self._verified.popitem(last=False)
        return dict(claims)

    async def _verify(self, token: str) -> tuple[dict[str, Any], str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthError(f"tokens signed with {alg!r} are not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("the token names no signing key (kid)")
        key = await self.keys.key(kid)
        if _KEY_TYPES.get(alg[:2]) != key.key_type:
            raise AuthError(f"algorithm {alg} does not match the signing key's type")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            return claims, kid, key.key
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise AuthError("the token was issued by an issuer the hub does not trust") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token is meant for another audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("the token's signature does not verify") from None
        except jwt.InvalidTokenError:
            raise AuthError("the token is invalid") from None


@dataclass(slots=True)
class Authenticator:
    """Turns a request's headers into a `Principal` (or refuses with `AuthError`)."""

    verifier: TokenVerifier
    policy: Policy
    graph: Graph
    citizen_source: str

    async def authenticate(self, authorization: str | None, purpose: str | None) -> Principal:
        if not authorization:
            raise AuthError("a bearer token is required (Authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        claims = await self.verifier.claims(token.strip())
        return await self.principal(claims, purpose)

    async def principal(self, claims: dict[str, Any], stated_purpose: str | None) -> Principal:
        roles_claim = claims.get("roles")
        if roles_claim is None:
            roles = frozenset({"citizen"})  # One Login tokens carry no roles: a citizen signing in
        elif isinstance(roles_claim, list) and all(isinstance(r, str) for r in roles_claim):
            roles = frozenset(r for r in roles_claim if r in ROLES)
        else:
            raise AuthError("the token's roles claim must be a list of strings")
        if not roles:
            raise AuthError("the token carries no role this hub knows", code="FORBIDDEN", status=403)
        vot = claims.get("vot", "")
        if not isinstance(vot, str):
            raise AuthError("the token's vot claim must be a string such as 'Cl.Cm.P2'")
        department = claims.get("department") if "partner" in roles else None
        if "partner" in roles:
            purpose = claims.get("purpose")  # a partner's purpose is part of its agreement, not its choice
        else:
            purpose = stated_purpose or None
        if purpose is not None and purpose not in self.policy.purposes:
            known = ", ".join(sorted(self.policy.purposes))
            raise AuthError(f"unknown purpose {purpose!r} (one of: {known})", code="FORBIDDEN", status=403)
        person_id = None
        if roles == {"citizen"}:
            [person_id] = await people_for_identities(self.graph, self.citizen_source, [str(claims["sub"])])
        principal = Principal(
            subject=str(claims["sub"]),
            roles=roles,
            issuer=str(claims["iss"]),
            person_id=person_id,
            department=department if isinstance(department, str) else None,
            purpose=purpose if isinstance(purpose, str) else None,
            vot=tuple(c for c in vot.split(".") if c),
        )
        if self.policy.access_for(principal).empty:
            if purpose is None and roles & {"caseworker", "steward", "auditor"}:
                known = ", ".join(sorted(self.policy.purposes))
                raise AuthError(
                    f"state the purpose of this request in the X-Purpose header (one of: {known})",
                    code="PURPOSE_REQUIRED",
                    status=403,
                )
            raise AuthError("no policy grants this principal any access", code="FORBIDDEN", status=403)
        return principal


# --- dev keys: local use only ---------------------------------------------------------------


def dev_key_paths(data_dir: Path) -> tuple[Path, Path]:
    folder = data_dir / "dev-keys"
    return folder / "private.pem", folder / "jwks.json"


def ensure_dev_keys(data_dir: Path) -> tuple[Path, Path]:
    """Create (once) an RSA key pair for dev tokens; returns (private key PEM, public JWKS)."""
    private_path, jwks_path = dev_key_paths(data_dir)
    if private_path.exists() and jwks_path.exists():
        return private_path, jwks_path
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private_path.touch(mode=0o600)
    private_path.write_bytes(pem)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=DEV_KID, use="sig", alg="RS256")
    jwks_path.write_text(json.dumps({"keys": [jwk]}, indent=2), encoding="utf-8")
    return private_path, jwks_path


def dev_citizen_subject(person_id: str) -> str:
    """The One Login style subject a dev sign-in as `person_id` uses (linked to the person)."""
    return f"urn:fdc:gov.uk:2022:dev-{person_id}"


def mint_token(
    private_pem: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: list[str] | None = None,
    department: str | None = None,
    purpose: str | None = None,
    vot: str | None = None,
    ttl: int = 3600,
    kid: str = DEV_KID,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now, "exp": now + ttl}
    if roles is not None:
        claims["roles"] = roles
    for name, value in (("department", department), ("purpose", purpose), ("vot", vot)):
        if value is not None:
            claims[name] = value
    claims.update(extra or {})
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": kid})


def key_source(settings: Settings) -> KeySource:
    if settings.auth_jwks_url:
        return KeySource(url=settings.auth_jwks_url)
    if settings.auth_jwks_file:
        return KeySource(file=settings.auth_jwks_file)
    # Settings refuse production without configured keys; in dev the local key pair is used.
    _, jwks = ensure_dev_keys(settings.data_dir)
    return KeySource(file=jwks)
