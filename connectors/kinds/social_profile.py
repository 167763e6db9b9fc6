"""`social_profile`: a LinkedIn-like professional network's profile API, behind OAuth2 client credentials.

Upstream contract (the sandbox in `connectors.sandbox` implements it):

* `POST {token_url}` — client-credentials grant → `{"access_token", "token_type": "Bearer", "expires_in"}`;
* `GET /v1/profiles/{id}` — one profile, 404 when unknown;
* `GET /v1/profiles?ids=a,b,c` — up to 100 profiles: `{"results": {id: profile}, "errors": {id: {"status"}}}`
  (the batch-get shape LinkedIn's Rest.li APIs use).

A profile carries a headline, positions (the current one names the employer), a location, a connection
count and when it was last active. The token is cached until shortly before it expires and fetched again
once when the API answers 401 (revoked or rotated early).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import AliasChoices, AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from connectors.auth import OAuth2ClientCredentials, authorised_json
from connectors.contract import Connector, ConnectorConfig, EnvSecret, MatchKey, Outcome
from connectors.errors import BadResponse, UpstreamUnavailable
from connectors.http import JsonResponse

__all__ = ["SocialProfile", "SocialProfileConnector", "SocialProfileSettings"]

MAX_IDS_PER_BATCH = 100  # the API's documented limit
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the API's id alphabet: anything else cannot exist there


class SocialProfileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: AnyHttpUrl = Field(description="API root, e.g. https://api.example.com")
    token_url: AnyHttpUrl | None = Field(
        None, description="OAuth2 token endpoint; default {base_url}/oauth/v2/accessToken"
    )
    client_id: EnvSecret = Field(description="NAME of the environment variable holding the client id")
    client_secret: EnvSecret = Field(description="NAME of the environment variable holding the client secret")
    scope: str | None = None
    batch_size: int = Field(50, ge=1, le=MAX_IDS_PER_BATCH, description="ids per batch request")


class SocialProfile(BaseModel):
    """What the hub learns about a person from their professional-network profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    headline: str | None = None
    current_employer: str | None = None
    location: str | None = None
    connections: int = Field(ge=0)
    last_active: datetime | None = None


class _Company(BaseModel):
    name: str


class _Position(BaseModel):
    title: str | None = None
    company: _Company
    is_current: bool = Field(False, validation_alias=AliasChoices("isCurrent", "is_current"))


class _Location(BaseModel):
    name: str


class _UpstreamProfile(BaseModel):
    """The API's profile document, validated before anything is taken from it (unknown keys are ignored)."""

    id: str
    headline: str | None = None
    positions: list[_Position] = []
    location: _Location | None = None
    connections_count: int = Field(ge=0, validation_alias=AliasChoices("connectionsCount", "connections_count"))
    last_active_at: datetime | None = Field(None, validation_alias=AliasChoices("lastActiveAt", "last_active_at"))

    def to_record(self) -> SocialProfile:
        current = next((p for p in self.positions if p.is_current), None)
        return SocialProfile(
            headline=self.headline,
            current_employer=current.company.name if current is not None else None,
            location=self.location.name if self.location is not None else None,
            connections=self.connections_count,
            last_active=self.last_active_at,
        )


class SocialProfileConnector(Connector):
    kind: ClassVar[str] = "social_profile"
    summary: ClassVar[str] = "Professional-network profile (headline, employer, location, connections, activity)"
    settings_model: ClassVar[type[BaseModel]] = SocialProfileSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = (MatchKey.EXTERNAL_ID,)
    fields = SocialProfile

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        super().__init__(config, session=session)
        settings: SocialProfileSettings = config.settings
        self.base_url = str(settings.base_url).rstrip("/")
        token_url = str(settings.token_url) if settings.token_url else f"{self.base_url}/oauth/v2/accessToken"
        self.max_batch_size = settings.batch_size
        self.auth = OAuth2ClientCredentials(
            session, token_url, settings.client_id.get(), settings.client_secret.get(), scope=settings.scope
        )

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        known = [k for k in keys if _ID.match(k)]
        out: dict[str, Outcome] = dict.fromkeys(keys)
        if len(known) == 1:
            out[known[0]] = await self._one(known[0])
        elif known:
            out.update(await self._batch(known))
        return out

    async def _one(self, key: str) -> Outcome:
        response = await self._get(f"{self.base_url}/v1/profiles/{quote(key, safe='')}", None, "profile request")
        if not response.found:
            return None
        return _profile(response.body, key)

    async def _batch(self, keys: Sequence[str]) -> dict[str, Outcome]:
        response = await self._get(f"{self.base_url}/v1/profiles", {"ids": ",".join(keys)}, "profile batch request")
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("results", {}), dict):
            raise BadResponse("profile batch request: the response is not a batch-get document")
        results: Mapping[str, Any] = body.get("results") or {}
        errors: Mapping[str, Any] = body.get("errors") or {}
        if not isinstance(errors, dict):
            raise BadResponse("profile batch request: 'errors' is not an object")
        out: dict[str, Outcome] = {}
        for key in keys:
            if key in results:
                out[key] = _profile(results[key], key)
            elif key in errors:
                out[key] = _batch_error(errors[key])
            else:
                out[key] = None
        return out

    async def _get(self, url: str, params: Mapping[str, str] | None, what: str) -> JsonResponse:
        return await authorised_json(self.session, self.auth, url, what=what, params=params)


def _profile(document: Any, key: str) -> Outcome:
    try:
        profile = _UpstreamProfile.model_validate(document)
    except ValidationError:
        return BadResponse("a profile in the response does not match the API's schema")
    if profile.id != key:
        return BadResponse("the API answered with a different profile than the one asked for")
    return profile.to_record()


def _batch_error(entry: Any) -> Outcome:
    status = entry.get("status") if isinstance(entry, dict) else None
    if status == 404:
        return None
    if isinstance(status, int) and (status >= 500 or status == 429):
        return UpstreamUnavailable(f"profile batch request: the upstream failed for one profile (HTTP {status})")
    return BadResponse(f"profile batch request: unexpected per-profile status {status!r}")
