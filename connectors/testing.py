"""The connector contract suite: every connector kind — ours or a third party's — passes it with one line.

Modelled on the Singer SDK's `get_tap_test_class`. In a test module::

    from connectors.testing import get_connector_test_class
    from my_package import MyConnector

    TestMyConnector = get_connector_test_class(
        MyConnector, config="my_config", sample_keys=["alice-1", "bob-2"], missing_keys=["nobody-9"]
    )

``config`` is a connector document (the YAML as a dict) or the name of a pytest fixture returning one —
use a fixture when the document depends on something started at test time, such as a sandbox upstream's
port. ``sample_keys`` must exist upstream, ``missing_keys`` must not. The suite checks that the kind
declares its metadata, that the config validates and that broken configs fail with errors naming the key,
that fetched records match the declared fields, that results are keyed uniquely and never by an empty key,
and, given ``dead_config`` (the document rewritten to point at an unreachable upstream), that an upstream
outage becomes a typed error rather than an exception.

Needs pytest and pytest-asyncio (``pip install 'citizen-hub[dev]'``).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import pytest
except ImportError as exc:  # pragma: no cover - only without the dev extra
    raise ImportError("connectors.testing needs pytest: pip install 'citizen-hub[dev]'") from exc

from pydantic import BaseModel

from connectors.contract import NAME_PATTERN, Connector, ConnectorConfig, ConnectorInfo
from connectors.errors import ConnectorConfigError, ErrorCode, InvalidKey
from connectors.http import create_session
from connectors.registry import build_connector, validate_config
from connectors.source import Source

__all__ = ["ConnectorContract", "get_connector_test_class", "merge"]

Document = dict[str, Any]
# Top-level keys a steward must always write; dropping any one must fail naming it.
_REQUIRED_KEYS = ("kind", "description", "owner", "lawful_basis", "purpose", "consent_required", "settings")


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Document:
    """A copy of connector document ``base`` with ``overrides`` merged in, nested mappings key by key.

    Handy for variants in tests: ``merge(document, {"retry": {"attempts": 1}})`` keeps the other retry keys.
    """
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class ConnectorContract:
    """The checks; `get_connector_test_class` fills in the class attributes below."""

    kind: type[Connector]
    config_source: Mapping[str, Any] | str
    sample_keys: Sequence[str]
    missing_keys: Sequence[str] = ()
    environ_source: Mapping[str, str] | str | None = None
    dead_config: Callable[[Document], Document] | None = None

    # -- fixtures ---------------------------------------------------------------------------------------

    @pytest.fixture
    def document(self, request: pytest.FixtureRequest) -> Document:
        source = self.config_source
        raw = request.getfixturevalue(source) if isinstance(source, str) else source
        return copy.deepcopy(dict(raw))

    @pytest.fixture
    def environ(self, request: pytest.FixtureRequest) -> Mapping[str, str]:
        source = self.environ_source
        if source is None:
            return os.environ
        value: Mapping[str, str] = request.getfixturevalue(source) if isinstance(source, str) else source
        return value

    # -- metadata ---------------------------------------------------------------------------------------

    def test_kind_declares_its_metadata(self) -> None:
        kind = self.kind
        assert re.match(NAME_PATTERN, kind.kind), f"kind {kind.kind!r} must be lower_snake_case"
        assert kind.summary.strip(), "summary must say what the source is"
        assert issubclass(kind.settings_model, BaseModel)
        assert kind.match_keys, "a kind must say how its records match a person"
        assert issubclass(kind.config_model(), ConnectorConfig)

    def test_instance_declares_fields_and_governance(self, document: Document, environ: Mapping[str, str]) -> None:
        config = validate_config(self.kind, document, environ=environ)
        for key in ("description", "owner", "purpose"):
            assert getattr(config, key).strip(), f"{key} must not be blank"
        assert config.lawful_basis is not None
        assert config.enriches == "Person"

    @pytest.mark.asyncio  # explicit, so the suite also runs under pytest-asyncio's strict mode
    async def test_describe_matches_the_declared_fields(self, document: Document, environ: Mapping[str, str]) -> None:
        async with create_session() as session:
            connector = build_connector(self.kind, document, session=session, environ=environ)
            try:
                info = connector.describe()
                assert isinstance(info, ConnectorInfo)
                assert issubclass(connector.fields, BaseModel)
                assert connector.fields.model_fields, "a connector must declare at least one field"
                assert set(info.fields) == set(connector.fields.model_fields)
                assert info.match in self.kind.match_keys
                assert info.batch_size >= 1
            finally:
                await connector.aclose()

    # -- configuration ----------------------------------------------------------------------------------

    def test_config_validates(self, document: Document, environ: Mapping[str, str]) -> None:
        config = validate_config(self.kind, document, environ=environ)
        assert config.kind == self.kind.kind
        assert isinstance(config.settings, self.kind.settings_model)

    @pytest.mark.parametrize("key", _REQUIRED_KEYS)
    def test_missing_key_fails_naming_it(self, key: str, document: Document, environ: Mapping[str, str]) -> None:
        document.pop(key, None)
        with pytest.raises(ConnectorConfigError) as caught:
            validate_config(self.kind, document, environ=environ)
        assert key in caught.value.keys, f"the error must name {key!r}: {caught.value}"

    def test_missing_setting_fails_naming_it(self, document: Document, environ: Mapping[str, str]) -> None:
        required = [n for n, f in self.kind.settings_model.model_fields.items() if f.is_required()]
        for name in required:
            broken = copy.deepcopy(document)
            broken["settings"].pop(name, None)
            with pytest.raises(ConnectorConfigError) as caught:
                validate_config(self.kind, broken, environ=environ)
            assert f"settings.{name}" in caught.value.keys, f"the error must name settings.{name}: {caught.value}"

    def test_unknown_keys_fail_naming_them(self, document: Document, environ: Mapping[str, str]) -> None:
        document["colour"] = "blue"
        document.setdefault("settings", {})["no_such_option"] = 1
        with pytest.raises(ConnectorConfigError) as caught:
            validate_config(self.kind, document, environ=environ)
        assert {"colour", "settings.no_such_option"} <= set(caught.value.keys), str(caught.value)

    def test_wrong_types_fail_naming_them(self, document: Document, environ: Mapping[str, str]) -> None:
        document["cache"] = {"ttl": "soon"}
        document["consent_required"] = "perhaps"
        with pytest.raises(ConnectorConfigError) as caught:
            validate_config(self.kind, document, environ=environ)
        assert {"cache.ttl", "consent_required"} <= set(caught.value.keys), str(caught.value)

    # -- records ----------------------------------------------------------------------------------------

    @pytest.mark.asyncio  # explicit, so the suite also runs under pytest-asyncio's strict mode
    async def test_records_match_declared_fields(self, document: Document, environ: Mapping[str, str]) -> None:
        async with create_session() as session:
            source = Source(build_connector(self.kind, document, session=session, environ=environ))
            try:
                results = await source.fetch(self.sample_keys)
            finally:
                await source.aclose()
        fields = source.fields
        for key in self.sample_keys:
            result = results[key]
            assert result.ok, f"{key}: {result.error}"
            assert isinstance(result.value, fields), f"{key}: expected a {fields.__name__}, got {result.value!r}"
            assert set(type(result.value).model_fields) == set(fields.model_fields)
            assert result.provenance is not None and result.provenance.connector == source.name
            assert not result.provenance.stale

    @pytest.mark.asyncio  # explicit, so the suite also runs under pytest-asyncio's strict mode
    async def test_keys_unique_and_non_null(self, document: Document, environ: Mapping[str, str]) -> None:
        asked = [*self.sample_keys, *self.sample_keys, *self.missing_keys]
        async with create_session() as session:
            source = Source(build_connector(self.kind, document, session=session, environ=environ))
            try:
                results = await source.fetch(asked)
                with pytest.raises(InvalidKey):
                    await source.fetch([""])
            finally:
                await source.aclose()
        assert list(results) == list(dict.fromkeys(asked)), "one result per distinct key, in the order asked"
        for key, result in results.items():
            assert key and result.key == key
        for key in self.missing_keys:
            assert results[key].ok and results[key].value is None, f"{key} should be absent upstream"

    @pytest.mark.asyncio  # explicit, so the suite also runs under pytest-asyncio's strict mode
    async def test_unreachable_upstream_is_a_typed_error(self, document: Document, environ: Mapping[str, str]) -> None:
        if self.dead_config is None:
            pytest.skip("no dead_config given for this connector")
        dead = self.dead_config(copy.deepcopy(document))
        dead.update(timeout={"attempt": 0.5, "total": 1.0}, retry={"attempts": 1})
        async with create_session() as session:
            source = Source(build_connector(self.kind, dead, session=session, environ=environ))
            try:
                results = await source.fetch(self.sample_keys[:1])
            finally:
                await source.aclose()
        [result] = results.values()
        assert result.error is not None and result.value is None
        assert result.error.code in (ErrorCode.CONNECTOR_UNAVAILABLE, ErrorCode.CONNECTOR_TIMEOUT)


def get_connector_test_class(
    kind: type[Connector],
    *,
    config: Mapping[str, Any] | str,
    sample_keys: Sequence[str],
    missing_keys: Sequence[str] = (),
    environ: Mapping[str, str] | str | None = None,
    dead_config: Callable[[Document], Document] | None = None,
) -> type[ConnectorContract]:
    """A pytest test class running the contract suite for ``kind`` (assign it to a name starting with Test)."""
    if not sample_keys:
        raise ValueError("sample_keys must name at least one key the upstream knows")
    attributes = {
        "kind": kind,
        "config_source": config,
        "sample_keys": tuple(sample_keys),
        "missing_keys": tuple(missing_keys),
        "environ_source": environ,
        "dead_config": staticmethod(dead_config) if dead_config is not None else None,
        "__test__": True,
    }
    name = "Test" + "".join(part.capitalize() for part in kind.kind.split("_")) + "Contract"
    return type(name, (ConnectorContract,), attributes)
