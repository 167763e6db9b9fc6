"""The registry: YAML instances validated with errors that name file and key, kinds found through entry points."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from connectors.errors import ConnectorConfigError, ErrorCode, UnknownConnector
from connectors.kinds.rest import RestConnector
from connectors.kinds.social_profile import SocialProfileConnector
from connectors.registry import BUILTIN_KINDS, ENTRY_POINT_GROUP, ConnectorRegistry, discover_kinds, load_specs
from connectors.sandbox import SocialSandbox
from connectors.testing import merge

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "connectors"


def _write(directory: Path, name: str, document: dict[str, Any] | str) -> Path:
    path = directory / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_repository_connector_config_is_valid(social_env: dict[str, str]) -> None:
    from hub.connectors import DEV_SECRETS

    specs = load_specs(REPO_CONFIG, environ={**DEV_SECRETS, **social_env})
    assert {s.config.name for s in specs} >= {"social", "bank_payments", "employer_earnings", "partner_household"}
    assert all(s.file is not None and s.file.parent == REPO_CONFIG for s in specs)


async def test_a_registry_is_built_from_yaml_and_fetches(
    tmp_path: Path, social_config: dict[str, Any], social_env: dict[str, str],
    rest_config: dict[str, Any], partner_env: dict[str, str],
    session: aiohttp.ClientSession, redis: Any, sandbox: SocialSandbox,
) -> None:  # fmt: skip
    social = {k: v for k, v in social_config.items() if k != "name"}  # the file name is the default name
    _write(tmp_path, "social.yaml", social)
    _write(tmp_path, "partner.yml", rest_config)
    _write(tmp_path, "README.txt", "not a connector")
    registry = ConnectorRegistry.from_directory(
        tmp_path, session=session, redis=redis, environ={**social_env, **partner_env}, cache_prefix="test:registry"
    )
    try:
        assert registry.names == ["partner_employment", "social"] and len(registry) == 2
        assert "social" in registry and [s.name for s in registry.enabled()] == registry.names
        results = await registry.fetch("social", ["alice"])
        assert results["alice"].ok and results["alice"].value is not None
        info = {i.name: i for i in registry.describe()}
        assert info["social"].fields["connections"] == "int" and info["social"].consent_required
        assert info["partner_employment"].match == "nino"
        assert registry.stats()["social"].upstream_calls == 1
        with pytest.raises(UnknownConnector, match="no connector named 'nope'"):
            registry.get("nope")
    finally:
        await registry.aclose()


BAD_DOCUMENTS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any] | str], str, str]] = [
    # (case, how to break the good document, key named, words in the message)
    ("broken-yaml", lambda d: "kind: social_profile\nsettings: [unclosed\n", "", "not valid YAML (line 3"),
    ("tab-indent", lambda d: "kind: social_profile\nsettings:\n\tbase_url: x\n", "", "not valid YAML (line 3"),
    ("unknown-kind", lambda d: merge(d, {"kind": "linkedin"}), "kind", "unknown connector kind 'linkedin'"),
    ("no-kind", lambda d: {k: v for k, v in d.items() if k != "kind"}, "kind", "Field required"),
    ("wrong-type", lambda d: merge(d, {"cache": {"ttl": "five minutes"}}), "cache.ttl", "valid number"),
    ("negative", lambda d: merge(d, {"retry": {"attempts": 0}}), "retry.attempts", "greater than or equal to 1"),
    ("missing-field", lambda d: {k: v for k, v in d.items() if k != "owner"}, "owner", "Field required"),
    ("missing-setting", lambda d: merge(d, {"settings": {"base_url": None}}), "settings.base_url", "URL"),
    ("unknown-key", lambda d: merge(d, {"colour": "blue"}), "colour", "Extra inputs are not permitted"),
    ("bad-basis", lambda d: merge(d, {"lawful_basis": "because"}), "lawful_basis", "'public_task'"),
    ("bad-match", lambda d: merge(d, {"match": "nino"}), "match", "matches people by external_id only"),
    ("bad-name", lambda d: merge(d, {"name": "Social Profile!"}), "name", "should match pattern"),
    ("duplicate-key", lambda d: yaml.safe_dump(d) + "kind: rest\n", "", "duplicate key 'kind'"),
    ("a-list", lambda d: "- kind: social_profile\n", "", "must be a mapping of keys to values, not a list"),
    ("empty", lambda d: "", "", "not an empty file"),
    ("env-missing", lambda d: merge(d, {"settings": {"client_id": "NOT_SET_ANYWHERE"}}), "settings.client_id",
     "environment variable NOT_SET_ANYWHERE is not set"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "breaker", "key", "words"), BAD_DOCUMENTS, ids=[c[0] for c in BAD_DOCUMENTS])
def test_each_problem_names_the_file_and_key(
    tmp_path: Path,
    social_config: dict[str, Any],
    social_env: dict[str, str],
    case: str,
    breaker: Callable[[dict[str, Any]], dict[str, Any] | str],
    key: str,
    words: str,
) -> None:
    path = _write(tmp_path, f"{case.replace('-', '_')}.yaml", breaker(social_config))
    with pytest.raises(ConnectorConfigError) as caught:
        load_specs(tmp_path, environ=social_env)
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == (path, key)
    assert words in problem.message, problem.message
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_every_problem_in_every_file_is_reported_at_once(
    tmp_path: Path, social_config: dict[str, Any], social_env: dict[str, str]
) -> None:
    _write(tmp_path, "good.yaml", social_config)
    _write(tmp_path, "one.yaml", merge(social_config, {"name": "one", "owner": "", "cache": {"ttl": -1}}))
    _write(tmp_path, "two.yaml", "kind: [")
    _write(tmp_path, "three.yaml", merge(social_config, {"name": "three", "kind": "payments"}))
    with pytest.raises(ConnectorConfigError) as caught:
        load_specs(tmp_path, environ=social_env)
    found = {(p.file.name if p.file else None, p.key) for p in caught.value.problems}
    assert found == {("one.yaml", "owner"), ("one.yaml", "cache.ttl"), ("two.yaml", ""), ("three.yaml", "kind")}
    message = str(caught.value)
    assert message.count("\n  - ") == 4 and "good.yaml" not in message


def test_names_are_unique_across_files(
    tmp_path: Path, social_config: dict[str, Any], social_env: dict[str, str]
) -> None:
    first = _write(tmp_path, "a.yaml", social_config)
    second = _write(tmp_path, "b.yaml", social_config)
    with pytest.raises(ConnectorConfigError) as caught:
        load_specs(tmp_path, environ=social_env)
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == (second, "name")
    assert f"already used by {first}" in problem.message


def test_a_file_name_that_cannot_be_a_name_must_say_one(
    tmp_path: Path, social_config: dict[str, Any], social_env: dict[str, str]
) -> None:
    nameless = {k: v for k, v in social_config.items() if k != "name"}
    path = _write(tmp_path, "Social-Profile.yaml", nameless)
    with pytest.raises(ConnectorConfigError) as caught:
        load_specs(tmp_path, environ=social_env)
    assert [(p.file, p.key) for p in caught.value.problems] == [(path, "name")]


def test_no_directory_means_no_connectors_but_a_file_is_an_error(tmp_path: Path) -> None:
    assert load_specs(tmp_path / "absent") == []
    not_a_dir = tmp_path / "connectors"
    not_a_dir.write_text("")
    with pytest.raises(ConnectorConfigError, match="must be a directory"):
        load_specs(not_a_dir)


async def test_enabled_in_yaml_and_switched_at_run_time(
    tmp_path: Path,
    social_config: dict[str, Any],
    social_env: dict[str, str],
    session: aiohttp.ClientSession,
    sandbox: SocialSandbox,
) -> None:
    _write(tmp_path, "social.yaml", merge(social_config, {"enabled": False}))
    registry = ConnectorRegistry.from_directory(tmp_path, session=session, environ=social_env)
    try:
        off = (await registry.fetch("social", ["alice"]))["alice"]
        assert off.value is None and off.error is not None and off.error.code is ErrorCode.CONNECTOR_DISABLED
        assert sandbox.state.api_calls == 0 and registry.enabled() == []
        await registry.enable("social")
        assert (await registry.fetch("social", ["alice"]))["alice"].ok
        await registry.disable("social")
        again = (await registry.fetch("social", ["bob"]))["bob"]
        assert again.error is not None and again.error.code is ErrorCode.CONNECTOR_DISABLED
        assert sandbox.state.api_calls == 1 and not registry.stats()["social"].enabled
    finally:
        await registry.aclose()


def test_built_in_kinds_are_advertised_as_entry_points() -> None:
    advertised = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert advertised["social_profile"] == "connectors.kinds.social_profile:SocialProfileConnector"
    assert advertised["rest"] == "connectors.kinds.rest:RestConnector"
    assert {k: advertised.get(k) for k in BUILTIN_KINDS} == dict(BUILTIN_KINDS), "pyproject advertises every kind"
    kinds = discover_kinds()
    assert kinds["social_profile"] is SocialProfileConnector and kinds["rest"] is RestConnector


PLUGIN = """
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel

from connectors.contract import Connector, Outcome


class Echo(BaseModel):
    text: str


class EchoConnector(Connector):
    kind: ClassVar[str] = "echo"
    summary: ClassVar[str] = "Echoes the key back (a third-party test plugin)"
    fields = Echo
    max_batch_size = 100

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        return {key: Echo(text=key.upper()) for key in keys}
"""


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed third-party distribution (a dist-info with entry points) on sys.path, as pip would leave it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "hub_echo_plugin.py").write_text(PLUGIN)
    (site / "hub_broken_plugin.py").write_text("raise ImportError('needs a library that is not installed')\n")
    dist = site / "hub_echo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-echo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""\
            [{ENTRY_POINT_GROUP}]
            echo = hub_echo_plugin:EchoConnector
            broken = hub_broken_plugin:BrokenConnector
            rest = hub_echo_plugin:EchoConnector
        """)
    )
    monkeypatch.syspath_prepend(str(site))
    return site


async def test_a_third_party_kind_is_discovered_and_runs(
    plugin_site: Path, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    kinds = discover_kinds()
    assert kinds["echo"].__module__ == "hub_echo_plugin"
    assert kinds["rest"] is RestConnector  # a plugin cannot take over a built-in kind
    assert "broken" in kinds.broken and "broken" not in kinds
    configs = tmp_path / "connectors"
    configs.mkdir()
    _write(
        configs,
        "echo.yaml",
        {
            "kind": "echo",
            "description": "d",
            "owner": "o",
            "lawful_basis": "public_task",
            "purpose": "p",
            "consent_required": False,
            "settings": {},
        },
    )
    registry = ConnectorRegistry.from_directory(configs, session=session, kinds=kinds)
    try:
        result = (await registry.fetch("echo", ["abc"]))["abc"]
        assert result.ok and result.value is not None and result.value.model_dump() == {"text": "ABC"}
    finally:
        await registry.aclose()


def test_a_broken_plugin_is_reported_where_it_is_used(plugin_site: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "uses_broken.yaml", {"kind": "broken"})
    with pytest.raises(ConnectorConfigError) as caught:
        load_specs(tmp_path, kinds=discover_kinds())
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == (path, "kind")
    assert "hub_broken_plugin:BrokenConnector failed to load: ImportError" in problem.message
