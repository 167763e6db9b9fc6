"""Both built-in kinds pass the shipped contract suite, each with one line, against real local upstreams."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.contract import ConnectorConfig, EnvSecret, LawfulBasis
from connectors.errors import ConnectorConfigError
from connectors.kinds.rest import RestConnector
from connectors.kinds.social_profile import SocialProfileConnector
from connectors.registry import validate_config
from connectors.testing import get_connector_test_class, merge


def _dead_social(document: dict[str, Any]) -> dict[str, Any]:
    return merge(document, {"settings": {"base_url": "http://127.0.0.1:9"}})  # discard port: nothing listens


def _dead_rest(document: dict[str, Any]) -> dict[str, Any]:
    return merge(document, {"settings": {"url": "http://127.0.0.1:9/api/people/{key}"}})


TestSocialProfileContract = get_connector_test_class(
    SocialProfileConnector,
    config="social_config",
    environ="social_env",
    sample_keys=["alice", "bob-2", "c_3"],
    missing_keys=["missing-1"],
    dead_config=_dead_social,
)

TestRestContract = get_connector_test_class(
    RestConnector,
    config="rest_config",
    environ="partner_env",
    sample_keys=["AB123456C", "CD654321A"],
    missing_keys=["unknown-1"],
    dead_config=_dead_rest,
)


def test_the_factory_names_the_class_and_needs_sample_keys() -> None:
    assert TestSocialProfileContract.__name__ == "TestSocialProfileContract"
    with pytest.raises(ValueError, match="sample_keys"):
        get_connector_test_class(RestConnector, config={}, sample_keys=[])


def test_consent_basis_requires_consent(social_config: dict[str, Any], social_env: dict[str, str]) -> None:
    document = merge(social_config, {"lawful_basis": "consent", "consent_required": False})
    with pytest.raises(ConnectorConfigError) as caught:
        validate_config(SocialProfileConnector, document, environ=social_env)
    assert caught.value.keys == ["consent_required"]
    ok = validate_config(SocialProfileConnector, merge(document, {"consent_required": True}), environ=social_env)
    assert ok.lawful_basis is LawfulBasis.CONSENT


def test_secrets_are_read_from_the_environment_and_never_shown(
    social_config: dict[str, Any], social_env: dict[str, str]
) -> None:
    config: ConnectorConfig[Any] = validate_config(SocialProfileConnector, social_config, environ=social_env)
    secret = config.settings.client_secret
    assert isinstance(secret, EnvSecret)
    assert secret.get() == social_env["SOCIAL_CLIENT_SECRET"]
    assert social_env["SOCIAL_CLIENT_SECRET"] not in repr(config)
    dumped = config.model_dump(mode="json")
    assert dumped["settings"]["client_secret"] == "SOCIAL_CLIENT_SECRET"  # the name, never the value


def test_a_secret_pasted_into_yaml_is_refused(social_config: dict[str, Any], social_env: dict[str, str]) -> None:
    document = merge(social_config, {"settings": {"client_secret": "s3cr3t-value!"}})
    with pytest.raises(ConnectorConfigError) as caught:
        validate_config(SocialProfileConnector, document, environ=social_env)
    [problem] = caught.value.problems
    assert problem.key == "settings.client_secret"
    assert "NAME of an environment variable" in problem.message
    assert "s3cr3t-value!" not in str(caught.value)


def test_timeout_total_must_cover_an_attempt(social_config: dict[str, Any], social_env: dict[str, str]) -> None:
    document = merge(social_config, {"timeout": {"attempt": 3.0, "total": 1.0}})
    with pytest.raises(ConnectorConfigError) as caught:
        validate_config(SocialProfileConnector, document, environ=social_env)
    assert caught.value.keys == ["timeout"]
