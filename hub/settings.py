"""Settings: environment variables over `config/hub.yaml` over defaults (pydantic-settings).

`NEO4J_URI` / `REDIS_URL` unset means "start the embedded servers"; set means "use these".
Secrets come only from the environment: a YAML file that names one is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG = CONFIG_DIR / "hub.yaml"
DEFAULT_POLICY = CONFIG_DIR / "policies.yaml"
DEFAULT_CONNECTORS = CONFIG_DIR / "connectors"
# Symmetric (HS*) and `none` are never accepted: a public key must never double as an HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_SECRET_WORDS = ("password", "secret", "token")


class SettingsError(Exception):
    """Configuration is unusable; the message says which key, where, and why."""


def _f(default: Any, env: str, yaml_key: str, **kw: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(env, yaml_key), **kw)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", case_sensitive=False, populate_by_name=True)

    env: Literal["dev", "production"] = _f("dev", "HUB_ENV", "env")
    host: str = _f("127.0.0.1", "HUB_HOST", "host")
    port: int = _f(8000, "HUB_PORT", "port", ge=1, le=65535)
    data_dir: Path = _f(Path(".data"), "HUB_DATA_DIR", "data_dir")

    neo4j_uri: str | None = _f(None, "NEO4J_URI", "neo4j_uri")
    neo4j_user: str = _f("neo4j", "NEO4J_USER", "neo4j_user")
    neo4j_password: SecretStr | None = _f(None, "NEO4J_PASSWORD", "neo4j_password")
    neo4j_database: str | None = _f(None, "NEO4J_DATABASE", "neo4j_database")
    graph_connection_timeout: float = _f(2.0, "HUB_GRAPH_CONNECTION_TIMEOUT", "graph_connection_timeout", gt=0)
    graph_max_retry_time: float = _f(5.0, "HUB_GRAPH_MAX_RETRY_TIME", "graph_max_retry_time", ge=0)
    graph_pool_size: int = _f(100, "HUB_GRAPH_POOL_SIZE", "graph_pool_size", ge=1)

    redis_url: str | None = _f(None, "REDIS_URL", "redis_url")
    redis_max_connections: int = _f(64, "HUB_REDIS_MAX_CONNECTIONS", "redis_max_connections", ge=1)

    embedded_graph_heap: str = _f("1g", "HUB_EMBEDDED_GRAPH_HEAP", "embedded_graph_heap", pattern=r"^\d+[mMgG]$")
    embedded_graph_bolt_port: int = _f(0, "HUB_EMBEDDED_GRAPH_BOLT_PORT", "embedded_graph_bolt_port", ge=0, le=65535)
    embedded_graph_http_port: int = _f(0, "HUB_EMBEDDED_GRAPH_HTTP_PORT", "embedded_graph_http_port", ge=0, le=65535)
    embedded_cache_port: int = _f(0, "HUB_EMBEDDED_CACHE_PORT", "embedded_cache_port", ge=0, le=65535)
    embedded_ready_timeout: float = _f(90.0, "HUB_EMBEDDED_READY_TIMEOUT", "embedded_ready_timeout", gt=0)

    auth_issuer: str = _f("citizen-hub-dev", "HUB_AUTH_ISSUER", "auth_issuer")
    auth_audience: str = _f("citizen-hub", "HUB_AUTH_AUDIENCE", "auth_audience")
    auth_jwks_url: str | None = _f(None, "HUB_AUTH_JWKS_URL", "auth_jwks_url")
    auth_jwks_file: Path | None = _f(None, "HUB_AUTH_JWKS_FILE", "auth_jwks_file")
    auth_algorithms: list[str] = _f(["RS256", "PS256", "ES256", "EdDSA"], "HUB_AUTH_ALGORITHMS", "auth_algorithms")
    auth_leeway: float = _f(30.0, "HUB_AUTH_LEEWAY", "auth_leeway", ge=0, le=300)
    auth_citizen_source: str = _f("govuk-one-login", "HUB_AUTH_CITIZEN_SOURCE", "auth_citizen_source")
    policy_file: Path = _f(DEFAULT_POLICY, "HUB_POLICY_FILE", "policy_file")
    connectors_dir: Path = _f(DEFAULT_CONNECTORS, "HUB_CONNECTORS_DIR", "connectors_dir")
    # `hub serve --demo` in dev: start the social-profile sandbox and link demo people to it.
    demo_connectors: bool = _f(True, "HUB_DEMO_CONNECTORS", "demo_connectors")

    max_body_bytes: int = _f(256 * 1024, "HUB_MAX_BODY_BYTES", "max_body_bytes", ge=1024)
    rate_limit_per_minute: int = _f(600, "HUB_RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute", ge=0)
    trusted_documents: Path | None = _f(None, "HUB_TRUSTED_DOCUMENTS", "trusted_documents")
    # Router authorization directives (@authenticated, @policy) in the subgraph SDL: for an Apollo Router in
    # front; the Node @apollo/gateway refuses to start on them. The hub enforces its policy either way.
    federation_auth_directives: bool = _f(False, "HUB_FEDERATION_AUTH_DIRECTIVES", "federation_auth_directives")

    metrics_token: SecretStr | None = _f(None, "HUB_METRICS_TOKEN", "metrics_token")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _f("INFO", "HUB_LOG_LEVEL", "log_level")
    log_json: bool = _f(True, "HUB_LOG_JSON", "log_json")
    shutdown_grace: float = _f(20.0, "HUB_SHUTDOWN_GRACE", "shutdown_grace", gt=0)

    demo_people: int = _f(2000, "HUB_DEMO_PEOPLE", "demo_people", ge=0)
    max_query_depth: int = _f(12, "HUB_MAX_QUERY_DEPTH", "max_query_depth", ge=1)
    max_aliases: int = _f(30, "HUB_MAX_ALIASES", "max_aliases", ge=1)
    max_query_cost: int = _f(5000, "HUB_MAX_QUERY_COST", "max_query_cost", ge=1)
    ready_timeout: float = _f(2.0, "HUB_READY_TIMEOUT", "ready_timeout", gt=0)
    # issue 12: identity resolution settings (thresholds, where trained models are kept)
    linkage_config: Path = _f(Path("config/linkage.yaml"), "HUB_LINKAGE_CONFIG", "linkage_config")

    @property
    def dev(self) -> bool:
        return self.env == "dev"

    @property
    def dev_tokens(self) -> bool:
        """Dev tokens (`hub token`, the pages' dev sign-in): dev mode on the local dev key pair only."""
        return self.dev and not (self.auth_jwks_url or self.auth_jwks_file)

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"only asymmetric algorithms are allowed ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})")
        return value

    @model_validator(mode="after")
    def _production_needs_keys(self) -> Settings:
        if not self.dev and not (self.auth_jwks_url or self.auth_jwks_file):
            raise ValueError("production needs HUB_AUTH_JWKS_URL or HUB_AUTH_JWKS_FILE (dev keys are for dev only)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """`config/hub.yaml` (or `HUB_CONFIG`), read with errors that name the file and line."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get("HUB_CONFIG") or DEFAULT_CONFIG)
        data = read_yaml_config(path)
        fields = settings_cls.model_fields
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {', '.join(map(str, unknown))}")
        # Hand values over under the environment alias, so the environment source (earlier, so
        # stronger) and this one name a field the same way and merge instead of clashing.
        self.data = {_env_name(fields[k]): v for k, v in data.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(_env_name(field)), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def _env_name(field: FieldInfo) -> str:
    alias = field.validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def read_yaml_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        if os.environ.get("HUB_CONFIG"):
            raise SettingsError(f"{path}: HUB_CONFIG names a file that does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SettingsError(f"{where}: not valid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    for key in data:
        if any(word in str(key).lower() for word in _SECRET_WORDS):
            raise SettingsError(f"{path}: {key}: secrets are read only from the environment, never from YAML")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise `SettingsError` listing every bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings (environment or config file):\n" + "\n".join(lines)) from None
