"""`graphql`: a declarative kind that reads declared fields from a partner department's GraphQL API — YAML only.

```yaml
kind: graphql
settings:
  url: https://partner.example/graphql
  auth: {type: bearer, token_env: PARTNER_GRAPHQL_TOKEN}   # none | bearer | basic | api_key (as `rest`)
  query_field: people          # a root Query field taking a list of keys ...
  key_argument: ids            # ... through this argument ...
  key_type: "[ID!]!"           # ... of this GraphQL type
  key_field: id                # where each result says whose it is (a dotted path)
  max_batch: 50                # keys per upstream query
  fields:                      # name -> dotted path into each result, and a declared type (as `rest`)
    employer: {path: employment.employer, type: str}
    hours_per_week: {path: employment.hoursPerWeek, type: float}
```

The connector writes one document from the declared paths and sends every key of a batch in one query:
`query HubConnector($keys: [ID!]!) { people(ids: $keys) { id employment { employer hoursPerWeek } } }`. Names
in paths, the root field and the argument must be GraphQL names (checked at start-up), so nothing a steward
writes can change the document's shape beyond the selection. An answer with `errors` and no data is a bad
response for the whole batch; a result that is null, or missing, is "no record" for that key; a value of
the wrong type is a bad response for that key only (`rest.map_record`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from connectors.contract import Connector, ConnectorConfig, MatchKey, Outcome
from connectors.errors import AuthFailed, BadResponse
from connectors.http import request_json
from connectors.kinds.rest import (
    AuthSpec,
    FieldSpec,
    NoneAuth,
    PathSegments,
    build_auth,
    check_field_names,
    map_record,
    parse_path,
    record_model,
    resolve_path,
)

__all__ = ["GraphQLConnector", "GraphQLSettings", "selection"]

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")  # GraphQL Name (spec §2.1.9)
_TYPE = re.compile(r"^\[?[_A-Za-z][_0-9A-Za-z]*!?\]?!?$")  # a named type, or a list of one


def _graphql_path(path: str) -> str:
    for segment in parse_path(path):
        if isinstance(segment, str) and not _NAME.match(segment):
            raise ValueError(f"{segment!r} in {path!r} is not a GraphQL field name")
    return path


class GraphQLSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl = Field(description="the partner's GraphQL endpoint")
    auth: AuthSpec = NoneAuth()
    query_field: str = Field(pattern=_NAME.pattern, description="root Query field taking the list of keys")
    key_argument: str = Field("ids", pattern=_NAME.pattern)
    key_type: str = Field("[ID!]!", pattern=_TYPE.pattern, description="the argument's GraphQL type")
    key_field: str = Field("id", description="dotted path, in each result, to the key it belongs to")
    max_batch: int = Field(50, ge=1, le=500)
    fields: dict[str, FieldSpec] = Field(min_length=1)

    _names = field_validator("fields")(lambda fields: check_field_names(fields))
    _key = field_validator("key_field")(lambda v: _graphql_path(v))

    @field_validator("fields")
    @classmethod
    def _paths(cls, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for spec in fields.values():
            _graphql_path(spec.path)
        return fields


def selection(paths: Sequence[PathSegments]) -> str:
    """The selection set that fetches every path: ``[("a","b"), ("a","c"), ("d",)]`` → ``a { b c } d``.

    List indexes select nothing (GraphQL returns the whole list; the path picks the item from the answer).
    """
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for segment in path:
            if isinstance(segment, str):
                node = node.setdefault(segment, {})

    def render(node: dict[str, Any]) -> str:
        return " ".join(f"{name} {{ {render(child)} }}" if child else name for name, child in node.items())

    return render(tree)


class GraphQLConnector(Connector):
    kind: ClassVar[str] = "graphql"
    summary: ClassVar[str] = "Declarative partner GraphQL source: declared fields read in one query per batch"
    settings_model: ClassVar[type[BaseModel]] = GraphQLSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = tuple(MatchKey)

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        super().__init__(config, session=session)
        self.settings: GraphQLSettings = config.settings
        self.fields = record_model(config.name, self.settings.fields)
        self._paths = {name: parse_path(spec.path) for name, spec in self.settings.fields.items()}
        self._key_path = parse_path(self.settings.key_field)
        self.auth = build_auth(self.settings.auth)
        self.max_batch_size = self.settings.max_batch
        s = self.settings
        self.document = (
            f"query HubConnector($keys: {s.key_type}) "
            f"{{ {s.query_field}({s.key_argument}: $keys) {{ {selection([self._key_path, *self._paths.values()])} }} }}"
        )

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        # A GraphQL query is a read even when it travels as a POST: retrying it is safe.
        response = await request_json(
            self.session,
            "POST",
            str(self.settings.url),
            what="GraphQL query",
            headers=await self.auth.headers(),
            json={"query": self.document, "variables": {"keys": list(keys)}, "operationName": "HubConnector"},
        )
        body = response.body
        if not isinstance(body, dict):
            raise BadResponse("GraphQL query: the answer is not a JSON object")
        data = body.get("data")
        results = data.get(self.settings.query_field) if isinstance(data, dict) else None
        errors = body.get("errors")
        if results is None:
            codes = sorted(
                {str((e.get("extensions") or {}).get("code", "error")) for e in errors or [] if isinstance(e, dict)}
            )
            if {"UNAUTHENTICATED", "FORBIDDEN"} & set(codes):
                raise AuthFailed(f"GraphQL query: the partner refused us ({', '.join(codes)})")
            raise BadResponse(f"GraphQL query: no data ({', '.join(codes) or 'no errors either'})")
        if not isinstance(results, list):
            raise BadResponse(f"GraphQL query: {self.settings.query_field} is not a list")
        by_key: dict[str, Any] = {}
        for item in results:
            if item is None:  # a result that failed on the partner's side (its error names the path)
                continue
            owner = resolve_path(item, self._key_path)
            if not isinstance(owner, str | int) or isinstance(owner, bool):
                raise BadResponse("GraphQL query: a result does not say whose it is (key_field)")
            by_key[str(owner)] = item
        return {key: map_record(self.fields, self._paths, by_key[key]) if key in by_key else None for key in keys}
