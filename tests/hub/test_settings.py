"""Settings: environment over YAML over defaults, with errors that name the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.yaml"
    monkeypatch.setenv("HUB_CONFIG", str(path))
    for var in ("HUB_PORT", "HUB_ENV", "NEO4J_URI", "REDIS_URL", "NEO4J_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return path


def test_yaml_then_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text("port: 9100\nenv: production\nauth_jwks_url: https://signin.example/.well-known/jwks.json\n")
    s = load_settings()
    assert (s.port, s.env, s.dev) == (9100, "production", False)
    monkeypatch.setenv("HUB_PORT", "9200")
    assert load_settings().port == 9200


def test_empty_file_means_defaults(config: Path) -> None:
    config.write_text("# nothing set\n")
    s = load_settings()
    assert s.neo4j_uri is None and s.redis_url is None and s.host == "127.0.0.1"


def test_broken_yaml_names_file_and_line(config: Path) -> None:
    config.write_text("port: 9100\nenv: [dev\n")
    with pytest.raises(SettingsError, match=r"hub\.yaml:\d+:\d+: not valid YAML"):
        load_settings()


def test_non_mapping_and_unknown_keys(config: Path) -> None:
    config.write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        load_settings()
    config.write_text("prot: 80\n")
    with pytest.raises(SettingsError, match="unknown setting.*prot"):
        load_settings()


def test_secrets_are_refused_in_yaml(config: Path) -> None:
    config.write_text("neo4j_password: hunter2\n")
    with pytest.raises(SettingsError, match="only from the environment"):
        load_settings()


def test_wrong_types_name_the_key(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text("port: 70000\n")
    with pytest.raises(SettingsError, match="HUB_PORT"):
        load_settings()
    config.write_text("")
    monkeypatch.setenv("HUB_ENV", "staging")
    with pytest.raises(SettingsError, match="HUB_ENV"):
        load_settings()


def test_missing_named_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_password_is_secret(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text("")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    s = load_settings()
    assert s.neo4j_password is not None and s.neo4j_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


def test_production_needs_real_keys_and_refuses_symmetric_algorithms(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text("env: production\n")
    with pytest.raises(SettingsError, match="HUB_AUTH_JWKS_URL or HUB_AUTH_JWKS_FILE"):
        load_settings()
    config.write_text("auth_algorithms: [RS256, HS256]\n")
    with pytest.raises(SettingsError, match="only asymmetric algorithms"):
        load_settings()
    config.write_text("auth_algorithms: [none]\n")
    with pytest.raises(SettingsError, match="only asymmetric algorithms"):
        load_settings()
