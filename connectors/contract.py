"""The connector contract: what a connector declares, how an instance is configured, what a fetch returns.

A connector *kind* is a class (Singer's `Tap`: class attributes plus a config model): it declares its
`kind`, a one-line `summary`, its kind-specific `settings_model`, the typed `fields` it provides (a pydantic
model), the match keys it understands and whether its upstream batches. A connector *instance* is one YAML
file in `config/connectors/`, validated into `ConnectorConfig[settings_model]`: name, steward, lawful basis,
purpose, consent, cache and resilience policy, and the kind's `settings`.

A kind implements only `fetch_many(keys)`: the raw upstream call. Caching, coalescing, retries, timeouts,
the breaker, the bulkhead, rate limits and metrics wrap it once, for every kind (`connectors.source`), and
callers receive a `FetchResult` per key — a value or None, provenance, and on failure an `ErrorCode`.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import aiohttp
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from connectors.errors import ErrorCode, UpstreamError

__all__ = [
    "BreakerPolicy",
    "BulkheadPolicy",
    "CachePolicy",
    "Connector",
    "ConnectorConfig",
    "ConnectorInfo",
    "EnvSecret",
    "FetchError",
    "FetchResult",
    "LawfulBasis",
    "MatchKey",
    "NoSettings",
    "Outcome",
    "Provenance",
    "RateLimitPolicy",
    "RetryPolicy",
    "TimeoutPolicy",
]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class MatchKey(StrEnum):
    """How a connector's records are matched to a person (deterministic links; probabilistic ones come later)."""

    EXTERNAL_ID = "external_id"  # an id at the source the citizen (or a verified process) connected
    NINO = "nino"
    VERIFIED_EMAIL = "verified_email"


class LawfulBasis(StrEnum):
    """UK GDPR Article 6(1) lawful bases for processing."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


# --------------------------------------------------------------------------------------------------------
# Secrets: YAML names an environment variable, never a value
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvSecret:
    """A secret named in YAML by its environment variable and read from the environment at validation.

    Validation looks the name up in ``context["environ"]`` when the validator is given one (the registry
    does), else in ``os.environ``; a missing variable is a configuration error naming the YAML key. The value
    is a `SecretStr`, so it never shows in a repr, a log line or a dump (which writes the name back).
    """

    name: str
    value: SecretStr = field(repr=False)

    def get(self) -> str:
        return self.value.get_secret_value()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.name),
            json_schema_input_schema=core_schema.str_schema(pattern=_ENV_NAME.pattern),
        )

    @classmethod
    def _validate(cls, value: Any, info: ValidationInfo) -> EnvSecret:
        if isinstance(value, EnvSecret):
            return value
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            raise PydanticCustomError(
                "env_var_name",
                "must be the NAME of an environment variable (A-Z, 0-9, _): secrets never go in YAML",
            )
        environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
        secret = environ.get(value)
        if not secret:
            raise PydanticCustomError(
                "env_var_missing", "environment variable {name} is not set (or is empty)", {"name": value}
            )
        return cls(value, SecretStr(secret))


# --------------------------------------------------------------------------------------------------------
# Configuration of one instance
# --------------------------------------------------------------------------------------------------------


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CachePolicy(_Policy):
    """Redis cache: fresh for `ttl` seconds, then servable as stale for up to `max_staleness` more.

    `revalidate: on_error` (stale-if-error) refetches an expired value and serves the stale copy, marked
    stale, only when the upstream fails; `background` (stale-while-revalidate) answers at once with the stale
    copy and refreshes it in the background.
    """

    enabled: bool = True
    ttl: float = Field(300.0, gt=0, description="seconds a value is fresh")
    max_staleness: float = Field(3600.0, ge=0, description="seconds past ttl a value may still be served, marked stale")
    revalidate: Literal["on_error", "background"] = "on_error"


class TimeoutPolicy(_Policy):
    attempt: float = Field(2.0, gt=0, description="seconds for one upstream attempt (auth + request + body)")
    total: float = Field(5.0, gt=0, description="seconds for a whole fetch: queueing, attempts and backoff")

    @model_validator(mode="after")
    def _total_covers_attempt(self) -> Self:
        if self.total < self.attempt:
            raise ValueError("total must be at least attempt")
        return self


class RetryPolicy(_Policy):
    """Retries of idempotent calls with full-jitter exponential backoff; `Retry-After` is honoured."""

    attempts: int = Field(3, ge=1, le=10, description="tries in all, the first included")
    backoff_initial: float = Field(0.1, gt=0, description="seconds; the backoff cap doubles from here")
    backoff_max: float = Field(2.0, gt=0, description="seconds; the largest backoff cap")
    max_retry_after: float = Field(5.0, ge=0, description="a longer Retry-After ends the fetch instead of waiting")


class BreakerPolicy(_Policy):
    failure_threshold: int = Field(5, ge=1, description="consecutive failed attempts that open the breaker")
    reset_timeout: float = Field(30.0, gt=0, description="seconds open before a half-open probe is allowed")
    half_open_max_calls: int = Field(1, ge=1, description="concurrent probes allowed while half-open")


class BulkheadPolicy(_Policy):
    max_concurrent: int = Field(10, ge=1, description="upstream calls in flight at once")
    max_waiting: int = Field(100, ge=0, description="calls queued for a slot; beyond this they are refused")


class RateLimitPolicy(_Policy):
    rate: float = Field(gt=0, description="upstream attempts allowed per `per` seconds (bursts up to `rate`)")
    per: float = Field(1.0, gt=0)


class NoSettings(BaseModel):
    """Settings model for kinds that need none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class ConnectorConfig(BaseModel, Generic[SettingsT]):
    """One connector instance, as a steward writes it in `config/connectors/<name>.yaml`.

    Governance fields have no defaults on purpose: a steward must decide the lawful basis, the purpose and
    whether consent is required before a source can be switched on.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="unique; becomes part of GraphQL field names")
    kind: str = Field(min_length=1)
    enabled: bool = True
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="the steward accountable for this source")
    enriches: Literal["Person"] = "Person"
    match: MatchKey | None = Field(None, description="how records match a person; the kind's default if omitted")
    lawful_basis: LawfulBasis
    purpose: str = Field(min_length=1)
    consent_required: bool
    cache: CachePolicy = CachePolicy()
    timeout: TimeoutPolicy = TimeoutPolicy()
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    bulkhead: BulkheadPolicy = BulkheadPolicy()
    rate_limit: RateLimitPolicy | None = None
    settings: SettingsT

    @field_validator("consent_required")
    @classmethod
    def _consent_basis_needs_consent(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("lawful_basis") is LawfulBasis.CONSENT and not value:
            raise ValueError("must be true when lawful_basis is 'consent'")
        return value


# --------------------------------------------------------------------------------------------------------
# What a fetch returns
# --------------------------------------------------------------------------------------------------------

Outcome = BaseModel | None | UpstreamError
"""What a kind's `fetch_many` maps each key to: a record, None (the upstream has none), or a per-key fault."""

RecordT = TypeVar("RecordT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value came from. `match_confidence` stays None until identity linking fills it in."""

    connector: str
    fetched_at: datetime  # when the upstream produced it (UTC), not when the cache returned it
    stale: bool = False
    cached: bool = False
    match_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class FetchError:
    code: ErrorCode
    message: str  # safe to show a client: no secrets, no upstream bodies


@dataclass(frozen=True, slots=True)
class FetchResult(Generic[RecordT]):
    """The answer for one key. On failure `error` is set; `value` may still hold a stale copy (marked stale)."""

    connector: str
    key: str
    value: RecordT | None
    provenance: Provenance | None
    error: FetchError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def stale(self) -> bool:
        return self.provenance is not None and self.provenance.stale


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    """A connector's declaration, for stewards (CLI, health pages) and for building the schema."""

    name: str
    kind: str
    summary: str
    description: str
    owner: str
    enriches: str
    match: MatchKey
    fields: Mapping[str, str]  # field name -> type, as declared
    lawful_basis: LawfulBasis
    purpose: str
    consent_required: bool
    batch_size: int


# --------------------------------------------------------------------------------------------------------
# The kind base class
# --------------------------------------------------------------------------------------------------------


class Connector(ABC):
    """Base of every connector kind. Subclasses set the class attributes and implement `fetch_many`.

    Instances are built by the registry from a validated config and the hub's one shared
    `aiohttp.ClientSession`; they hold no connections of their own. `fetch_many` raises `UpstreamError`
    for a fault of the whole call and may map single keys to an `UpstreamError` for per-key faults.
    """

    kind: ClassVar[str]
    summary: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = (MatchKey.EXTERNAL_ID,)
    idempotent: ClassVar[bool] = True  # only idempotent calls are retried
    fields: type[BaseModel]  # class attribute for code kinds; declarative kinds set it per instance
    max_batch_size: int = 1  # keys per upstream call; 1 means the upstream has no batch endpoint

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session

    @classmethod
    def config_model(cls) -> type[ConnectorConfig[Any]]:
        return ConnectorConfig[cls.settings_model]  # type: ignore[name-defined]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def match(self) -> MatchKey:
        return self.config.match or self.match_keys[0]

    @abstractmethod
    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        """Fetch records for ``keys`` (unique, at most `max_batch_size`) in as few upstream calls as possible.

        Keys the upstream does not know map to None (or are left out). Raise an `UpstreamError` subclass
        for a fault of the whole call; per-key faults may be returned as `UpstreamError` instances.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, deliberately empty by default
        """Release anything the instance holds (tokens, background work); the session is not ours to close."""

    def describe(self) -> ConnectorInfo:
        c = self.config
        return ConnectorInfo(
            name=c.name,
            kind=self.kind,
            summary=self.summary,
            description=c.description,
            owner=c.owner,
            enriches=c.enriches,
            match=self.match,
            fields={name: _type_name(f.annotation) for name, f in self.fields.model_fields.items()},
            lawful_basis=c.lawful_basis,
            purpose=c.purpose,
            consent_required=c.consent_required,
            batch_size=self.max_batch_size,
        )


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "").replace("datetime.", "")
