"""`rest`: a declarative REST/JSON kind a steward configures in YAML alone — no code.

```yaml
kind: rest
settings:
  url: https://partner.example/api/people/{key}      # {key} is percent-encoded into the URL
  auth: {type: bearer, token_env: PARTNER_TOKEN}     # none | bearer | basic | api_key; env var NAMES only
  record_path: data                                  # where the record sits in the answer (optional)
  batch:                                             # optional: the upstream's batch endpoint
    url: https://partner.example/api/people?ids={keys}
    records_path: items                              # a list of records (or an object keyed by key)
    key_path: person.id                              # where each record says whose it is
  fields:                                            # name -> dotted path into the record, and a type
    employer: {path: employment.current.name, type: str}
    started_on: {path: "employment.history[0].start", type: date}
```

Paths are dotted keys with `[n]` list indexes (a JSON-path subset: no wildcards or filters, so a mapping
always yields one value). Field types are str, int, float, bool, date and datetime; a field is optional
unless `required: true`. The record model is built per instance with `pydantic.create_model`, so the
fields are typed exactly as declared, and an upstream value of the wrong type is a
`CONNECTOR_BAD_RESPONSE` for that key, never a wrong value served.
"""

from __future__ import annotations

import keyword
import re
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator
from yarl import URL

from connectors.auth import Auth, BasicAuth, HeaderAuth, NoAuth
from connectors.contract import Connector, ConnectorConfig, EnvSecret, MatchKey, Outcome
from connectors.errors import BadResponse
from connectors.http import request_json

__all__ = [
    "FIELD_TYPES",
    "AuthSpec",
    "FieldSpec",
    "RestConnector",
    "RestSettings",
    "build_auth",
    "check_field_names",
    "map_record",
    "parse_path",
    "record_model",
    "resolve_path",
]

FIELD_TYPES: Mapping[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "date": date,
    "datetime": datetime,
}
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()
_SECRET_WORDS = ("api-key", "apikey", "token", "secret", "password", "auth")

PathSegments = tuple[str | int, ...]


def parse_path(path: str) -> PathSegments:
    """``"a.b[0].c"`` → ``("a", "b", 0, "c")``; "" is the document itself. Raises ValueError when malformed."""
    if path == "":
        return ()
    segments: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(path):
        gap = path[position : match.start()]
        index = match.group(2) is not None
        if gap not in ("", ".") or (gap == "." and (not segments or index)) or (gap == "" and segments and not index):
            raise ValueError(f"malformed path {path!r} near position {position}")
        segments.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if position != len(path) or not segments:
        raise ValueError(f"malformed path {path!r}: use dotted keys and [n] indexes, e.g. a.b[0].c")
    return tuple(segments)


def resolve_path(document: Any, path: PathSegments) -> Any:
    """The value at ``path``, or `_MISSING` when any step is absent or of the wrong shape."""
    node = document
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(node, list) or segment >= len(node):
                return _MISSING
            node = node[segment]
        else:
            if not isinstance(node, dict) or segment not in node:
                return _MISSING
            node = node[segment]
    return node


def _check_path(value: str) -> str:
    parse_path(value)
    return value


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="dotted path into the record, [n] for list items")
    type: Literal["str", "int", "float", "bool", "date", "datetime"]
    required: bool = False
    description: str | None = None

    _check = field_validator("path")(_check_path)


def check_field_names(fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
    """Declared field names become Python and GraphQL names: lower_snake_case, nothing pydantic reserves."""
    for name in fields:
        if not _FIELD_NAME.match(name) or keyword.iskeyword(name) or name.startswith("model_"):
            raise ValueError(f"field name {name!r} must be lower_snake_case (letters, digits, _), not 'model_…'")
        if hasattr(BaseModel, name):
            raise ValueError(f"field name {name!r} is reserved")
    return fields


class NoneAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["bearer"]
    token_env: EnvSecret


class BasicAuthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["basic"]
    username_env: EnvSecret
    password_env: EnvSecret


class ApiKeyAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["api_key"]
    header: str = Field("X-API-Key", pattern=r"^[A-Za-z0-9-]+$")
    key_env: EnvSecret


AuthSpec = Annotated[NoneAuth | BearerAuth | BasicAuthSpec | ApiKeyAuth, Field(discriminator="type")]


def _check_template(url: str, placeholder: str) -> str:
    names = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
    if names != [placeholder]:
        raise ValueError(f"must contain {{{placeholder}}} exactly once and no other {{...}} placeholder")
    parts = urlsplit(url.replace("{" + placeholder + "}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


class BatchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="template with {keys}: the keys, percent-encoded and joined by separator")
    separator: str = Field(",", min_length=1, max_length=3)
    max_size: int = Field(50, ge=1, le=500)
    records_path: str = Field("", description="path to the list of records (or an object keyed by key)")
    key_path: str = Field("id", description="path, inside each record, to the key it belongs to")

    _url = field_validator("url")(lambda v: _check_template(v, "keys"))
    _paths = field_validator("records_path", "key_path")(_check_path)


class RestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="template with {key}, e.g. https://host/api/people/{key}")
    auth: AuthSpec = NoneAuth()
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers")
    record_path: str = ""
    not_found_status: list[int] = Field(default_factory=lambda: [404])
    batch: BatchSpec | None = None
    fields: dict[str, FieldSpec] = Field(min_length=1)

    _url = field_validator("url")(lambda v: _check_template(v, "key"))
    _record_path = field_validator("record_path")(_check_path)

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            lowered = name.lower()
            if lowered in ("authorization", "cookie", "proxy-authorization") or any(
                w in lowered for w in _SECRET_WORDS
            ):
                raise ValueError(f"header {name!r} carries credentials: configure it under auth, from the environment")
        return headers

    _field_names = field_validator("fields")(lambda fields: check_field_names(fields))

    @model_validator(mode="after")
    def _statuses(self) -> RestSettings:
        if any(not 400 <= s <= 499 for s in self.not_found_status):
            raise ValueError("not_found_status must list 4xx statuses")
        return self


def record_model(name: str, fields: Mapping[str, FieldSpec]) -> type[BaseModel]:
    """The typed record model for one declarative instance, e.g. ``partner_records`` → ``PartnerRecordsRecord``."""
    definitions: dict[str, Any] = {}
    for field_name, spec in fields.items():
        annotation = FIELD_TYPES[spec.type]
        if spec.required:
            definitions[field_name] = (annotation, Field(description=spec.description))
        else:
            definitions[field_name] = (annotation | None, Field(None, description=spec.description))
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Record"
    return create_model(model_name, __config__=ConfigDict(extra="forbid", frozen=True), **definitions)


class RestConnector(Connector):
    kind: ClassVar[str] = "rest"
    summary: ClassVar[str] = "Declarative REST/JSON source: URL template, auth, field mapping, declared types"
    settings_model: ClassVar[type[BaseModel]] = RestSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = tuple(MatchKey)

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        super().__init__(config, session=session)
        self.settings: RestSettings = config.settings
        self.fields = record_model(config.name, self.settings.fields)
        self._paths = {name: parse_path(spec.path) for name, spec in self.settings.fields.items()}
        self._record_path = parse_path(self.settings.record_path)
        self.auth = build_auth(self.settings.auth)
        batch = self.settings.batch
        self.max_batch_size = batch.max_size if batch is not None else 1
        self._batch_records = parse_path(batch.records_path) if batch is not None else ()
        self._batch_key = parse_path(batch.key_path) if batch is not None else ()

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        if self.settings.batch is not None and len(keys) > 1:
            return await self._batch(keys)
        return {key: await self._one(key) for key in keys}

    async def _one(self, key: str) -> Outcome:
        url = URL(self.settings.url.replace("{key}", quote(key, safe="")), encoded=True)
        body = await self._get(url)
        if body is None:
            return None
        record = resolve_path(body, self._record_path)
        return None if record is _MISSING or record is None else self._map(record)

    async def _batch(self, keys: Sequence[str]) -> dict[str, Outcome]:
        assert self.settings.batch is not None
        joined = self.settings.batch.separator.join(quote(k, safe="") for k in keys)
        body = await self._get(URL(self.settings.batch.url.replace("{keys}", joined), encoded=True))
        records = resolve_path(body, self._batch_records) if body is not None else []
        if isinstance(records, dict):
            by_key = {str(k): v for k, v in records.items()}
        elif isinstance(records, list):
            by_key = {}
            for record in records:
                owner = resolve_path(record, self._batch_key)
                if owner is _MISSING or owner is None:
                    raise BadResponse("batch response: a record does not say whose it is (key_path)")
                by_key[str(owner)] = record
        else:
            raise BadResponse("batch response: records_path does not lead to a list or an object")
        out: dict[str, Outcome] = {}
        for key in keys:
            record = by_key.get(key)
            out[key] = None if record is None else self._map(record)
        return out

    async def _get(self, url: URL) -> Any:
        headers = {**self.settings.headers, **(await self.auth.headers())}
        response = await request_json(
            self.session, "GET", url, what="request", headers=headers, not_found=self.settings.not_found_status
        )
        return response.body

    def _map(self, record: Any) -> Outcome:
        return map_record(self.fields, self._paths, record)


def map_record(model: type[BaseModel], paths: Mapping[str, PathSegments], record: Any) -> Outcome:
    """The declared fields' values taken from ``record`` by their paths, typed by ``model``; a misfit is a
    `BadResponse` for that key (never a wrong value served)."""
    values = {}
    for name, path in paths.items():
        value = resolve_path(record, path)
        if value is not _MISSING:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        wrong = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        return BadResponse(f"the upstream's record does not fit the declared fields: {', '.join(wrong)}")


def build_auth(spec: NoneAuth | BearerAuth | BasicAuthSpec | ApiKeyAuth) -> Auth:
    if isinstance(spec, BearerAuth):
        return HeaderAuth.bearer(spec.token_env.get())
    if isinstance(spec, BasicAuthSpec):
        return BasicAuth(spec.username_env.get(), spec.password_env.get())
    if isinstance(spec, ApiKeyAuth):
        return HeaderAuth(spec.header, spec.key_env.get())
    return NoAuth()
