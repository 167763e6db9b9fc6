"""The connector registry: kinds discovered through entry points, instances read from `config/connectors/*.yaml`.

Kinds are the built-ins below plus whatever installed packages advertise in the entry-point group
`citizen_hub.connectors` (PyPA "Creating and discovering plugins"; the name is the kind, the object a
`Connector` subclass). A third-party package ships a kind with one line in its own pyproject.

Start-up validates every file before anything connects and reports *all* problems at once, each naming the
file and the dotted key (`social.yaml: settings.client_id: environment variable X is not set`): broken
YAML (with its line), duplicate keys, unknown kinds, wrong types, missing or unknown fields, duplicate
names. A connector is switched on or off by `enabled:` in its file, or at run time with `enable`/`disable`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import yaml
from pydantic import ValidationError

from connectors.cache import DEFAULT_PREFIX, RecordCache
from connectors.contract import NAME_PATTERN, Connector, ConnectorConfig, ConnectorInfo, FetchResult
from connectors.errors import ConfigProblem, ConnectorConfigError, UnknownConnector
from connectors.source import Source
from connectors.stats import StatsSnapshot
from connectors.switches import DEFAULT_SWITCH_KEY, Switch, Switches

__all__ = [
    "BUILTIN_KINDS",
    "ENTRY_POINT_GROUP",
    "ConnectorRegistry",
    "ConnectorSpec",
    "Kinds",
    "build_connector",
    "discover_kinds",
    "load_specs",
    "validate_config",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "citizen_hub.connectors"
BUILTIN_KINDS: Mapping[str, str] = {
    "social_profile": "connectors.kinds.social_profile:SocialProfileConnector",
    "rest": "connectors.kinds.rest:RestConnector",
    "payments_feed": "connectors.kinds.payments_feed:PaymentsFeedConnector",
    "earnings_feed": "connectors.kinds.earnings_feed:EarningsFeedConnector",
    "graphql": "connectors.kinds.graphql:GraphQLConnector",
}
_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kinds:
    """Connector kinds by name, and the plugins that failed to load (reported only if a file uses them)."""

    classes: Mapping[str, type[Connector]]
    broken: Mapping[str, str]

    def __contains__(self, kind: object) -> bool:
        return kind in self.classes

    def __getitem__(self, kind: str) -> type[Connector]:
        return self.classes[kind]

    @classmethod
    def of(cls, *classes: type[Connector]) -> Kinds:
        return cls({c.kind: c for c in classes}, {})


def discover_kinds(*, group: str = ENTRY_POINT_GROUP) -> Kinds:
    """Built-in kinds plus the entry points of ``group``. A built-in wins over a plugin of the same name."""
    classes: dict[str, type[Connector]] = {}
    broken: dict[str, str] = {}
    for kind, target in BUILTIN_KINDS.items():
        classes[kind] = _load_kind(kind, EntryPoint(kind, target, group))
    for ep in entry_points(group=group):
        if ep.name in BUILTIN_KINDS:
            if ep.value != BUILTIN_KINDS[ep.name]:
                log.warning("ignoring plugin kind %r (%s): a built-in kind has that name", ep.name, ep.value)
            continue
        try:
            classes[ep.name] = _load_kind(ep.name, ep)
        except Exception as exc:  # a broken third-party package must not stop the hub starting
            broken[ep.name] = f"plugin {ep.value} failed to load: {type(exc).__name__}: {exc}"
            log.warning("connector kind %r: %s", ep.name, broken[ep.name])
    return Kinds(classes, broken)


def _load_kind(name: str, ep: EntryPoint) -> type[Connector]:
    loaded = ep.load()
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise TypeError(f"{ep.value} is not a Connector subclass")
    if getattr(loaded, "kind", None) != name:
        raise TypeError(f"{ep.value} declares kind {getattr(loaded, 'kind', None)!r}, not {name!r}")
    return loaded


# --------------------------------------------------------------------------------------------------------
# Reading and validating files
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """One validated instance: where it came from, its kind, and its typed configuration."""

    file: Path | None
    kind: type[Connector]
    config: ConnectorConfig[Any]
    blocked: str | None = None  # why it cannot run (its secrets are unset): it stays disabled


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep the last one."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _read_yaml(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorConfigError.at("", f"cannot read the file: {exc}", file) from exc
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConnectorConfigError.at("", f"not valid YAML{where}: {problem}", file) from exc


def _dotted(loc: Iterable[int | str]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key


def validate_config(
    kind: type[Connector], raw: Mapping[str, Any], *, file: Path | None = None, environ: Mapping[str, str] | None = None
) -> ConnectorConfig[Any]:
    """Validate one instance's document against its kind; every problem becomes a `ConfigProblem`."""
    try:
        config = kind.config_model().model_validate(
            raw, context={"environ": os.environ if environ is None else environ}
        )
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            problems.append(ConfigProblem(file, _dotted(loc), error["msg"]))
        raise ConnectorConfigError(problems) from None
    if config.match is not None and config.match not in kind.match_keys:
        allowed = ", ".join(m.value for m in kind.match_keys)
        raise ConnectorConfigError.at("match", f"kind {kind.kind} matches people by {allowed} only", file)
    return config


def _spec_from_document(file: Path | None, raw: Any, kinds: Kinds, environ: Mapping[str, str] | None) -> ConnectorSpec:
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConnectorConfigError.at("", f"must be a mapping of keys to values, not {got}", file)
    document = dict(raw)
    if "name" not in document and file is not None:
        document["name"] = file.stem  # the file name is the default connector name
        if not re.match(NAME_PATTERN, file.stem):
            raise ConnectorConfigError.at(
                "name",
                f"no name given, and the file name {file.stem!r} is not a valid one "
                "(lower case letters, digits and _, starting with a letter)",
                file,
            )
    kind_name = document.get("kind")
    if kind_name is None:
        raise ConnectorConfigError.at("kind", "Field required", file)
    if not isinstance(kind_name, str) or kind_name not in kinds:
        if isinstance(kind_name, str) and kind_name in kinds.broken:
            raise ConnectorConfigError.at("kind", kinds.broken[kind_name], file)
        known = ", ".join(sorted(kinds.classes)) or "none"
        raise ConnectorConfigError.at("kind", f"unknown connector kind {kind_name!r} (known kinds: {known})", file)
    kind = kinds[kind_name]
    return ConnectorSpec(file, kind, validate_config(kind, document, file=file, environ=environ))


def load_specs(
    directory: Path, *, kinds: Kinds | None = None, environ: Mapping[str, str] | None = None
) -> list[ConnectorSpec]:
    """Read and validate every `*.yaml` / `*.yml` in ``directory`` (sorted); raise all problems together.

    A missing directory means "no connectors" — a hub can run on the core record alone.
    """
    kinds = kinds if kinds is not None else discover_kinds()
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise ConnectorConfigError.at("", "connector configuration must be a directory of YAML files", directory)
    problems: list[ConfigProblem] = []
    specs: list[ConnectorSpec] = []
    seen: dict[str, Path | None] = {}
    for file in sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file()):
        try:
            spec = _spec_from_document(file, _read_yaml(file), kinds, environ)
        except ConnectorConfigError as exc:
            problems.extend(exc.in_file(file).problems)
            continue
        name = spec.config.name
        if name in seen:
            problems.append(ConfigProblem(file, "name", f"connector name {name!r} is already used by {seen[name]}"))
            continue
        seen[name] = file
        specs.append(spec)
    if problems:
        raise ConnectorConfigError(problems)
    return specs


def build_connector(
    spec_or_kind: ConnectorSpec | type[Connector],
    raw: Mapping[str, Any] | None = None,
    *,
    session: aiohttp.ClientSession,
    environ: Mapping[str, str] | None = None,
) -> Connector:
    """A connector instance from a validated spec, or from a kind and a raw document (tests, the contract suite)."""
    if isinstance(spec_or_kind, ConnectorSpec):
        spec = spec_or_kind
    else:
        if raw is None:
            raise TypeError("build_connector(kind, raw): the raw configuration is required")
        spec = ConnectorSpec(None, spec_or_kind, validate_config(spec_or_kind, raw, environ=environ))
    try:
        return spec.kind(spec.config, session=session)
    except ConnectorConfigError as exc:
        raise exc.in_file(spec.file) if spec.file is not None else exc from None


# --------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------


class ConnectorRegistry:
    """All configured sources by name. Created once by the composition root, closed with it."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self._sources: dict[str, Source] = {}
        for source in sources:
            if source.name in self._sources:
                raise ConnectorConfigError.at("name", f"connector name {source.name!r} is used twice")
            self._sources[source.name] = source

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        *,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis | None = None,
        kinds: Kinds | None = None,
        environ: Mapping[str, str] | None = None,
        cache_prefix: str = DEFAULT_PREFIX,
        cache_timeout: float = 0.5,
        switch_key: str = DEFAULT_SWITCH_KEY,
    ) -> ConnectorRegistry:
        """Validate every file, then build every connector; raises `ConnectorConfigError` naming file and key.

        ``session`` and ``redis`` belong to the caller (one of each per process); without ``redis`` the
        sources run uncached.
        """
        specs = load_specs(directory, kinds=kinds, environ=environ)
        cache = RecordCache(redis, prefix=cache_prefix, timeout=cache_timeout) if redis is not None else None
        switches = Switches(redis, key=switch_key, timeout=cache_timeout) if redis is not None else None
        problems: list[ConfigProblem] = []
        sources: list[Source] = []
        for spec in specs:
            try:
                connector = build_connector(spec, session=session)
                sources.append(Source(connector, cache=cache, switches=switches, blocked=spec.blocked))
            except ConnectorConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConnectorConfigError(problems)
        return cls(sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def __iter__(self) -> Iterator[Source]:
        return iter(self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    def get(self, name: str) -> Source:
        try:
            return self._sources[name]
        except KeyError:
            raise UnknownConnector(name) from None

    def enabled(self) -> list[Source]:
        """The sources on, as last known in this process."""
        return [s for s in self._sources.values() if s.enabled]

    async def enable(self, name: str, *, by: str = "registry", reason: str | None = None) -> Switch:
        return await self.get(name).set_enabled(True, by=by, reason=reason)

    async def disable(self, name: str, *, by: str = "registry", reason: str | None = None) -> Switch:
        """Stop calling this source on every replica (its fields answer CONNECTOR_DISABLED) until enabled again."""
        return await self.get(name).set_enabled(False, by=by, reason=reason)

    async def fetch(self, name: str, keys: Iterable[str]) -> dict[str, FetchResult[Any]]:
        return await self.get(name).fetch(keys)

    def describe(self) -> list[ConnectorInfo]:
        return [s.connector.describe() for s in self._sources.values()]

    def stats(self) -> dict[str, StatsSnapshot]:
        return {name: s.snapshot() for name, s in self._sources.items()}

    async def aclose(self) -> None:
        for source in self._sources.values():
            await source.aclose()
