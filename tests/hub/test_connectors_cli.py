"""`hub connectors list | check | test`, the start-up rule for missing secrets, and the demo sandbox process."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import random_nino
from typer.testing import CliRunner

from connectors import ConnectorConfigError
from graph.consent import grant_consent
from graph.identity import link_identity
from graph.models import NewPerson
from graph.person import create_person
from hub.app import connect_graph
from hub.cli import app
from hub.connectors import DemoSandbox, load_connector_specs
from hub.embedded import free_port
from hub.settings import Settings

SOCIAL = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "connectors" / "social.yaml").read_text())


def social_doc(base_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {**SOCIAL, "settings": {**SOCIAL["settings"], "base_url": base_url}}


def graph_env(settings: Settings, directory: Path) -> dict[str, str]:
    assert settings.neo4j_password is not None
    return {
        "HUB_CONNECTORS_DIR": str(directory),
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_USER": settings.neo4j_user,
        "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        "NEO4J_DATABASE": settings.neo4j_database or "",
    }


def test_list_and_check(tmp_path: Path) -> None:
    (tmp_path / "social.yaml").write_text(yaml.safe_dump(social_doc()))
    runner = CliRunner()
    listed = runner.invoke(app, ["connectors", "list"], env={"HUB_CONNECTORS_DIR": str(tmp_path)})
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.strip().splitlines()
    assert header.split("\t") == ["name", "kind", "enabled", "owner", "purpose", "consent", "match", "field"]
    assert row.split("\t") == [
        "social",
        "social_profile",
        "true",
        SOCIAL["owner"],
        "child-maintenance",
        "required",
        "external_id",
        "socialProfile",
    ]
    checked = runner.invoke(app, ["connectors", "check"], env={"HUB_CONNECTORS_DIR": str(tmp_path)})
    assert checked.exit_code == 0 and "1 connector(s) valid: social" in checked.output


def test_check_names_the_file_and_key_of_every_problem(tmp_path: Path) -> None:
    broken = social_doc()
    broken["cache"] = {"ttl": -1}
    del broken["purpose"]
    (tmp_path / "social.yaml").write_text(yaml.safe_dump(broken))
    (tmp_path / "other.yaml").write_text("kind: nonsense\n")
    result = CliRunner().invoke(app, ["connectors", "check"], env={"HUB_CONNECTORS_DIR": str(tmp_path)})
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "social.yaml: cache.ttl:" in output and "social.yaml: purpose: Field required" in output
    assert "other.yaml: kind: unknown connector kind 'nonsense'" in output


def test_a_missing_secret_disables_the_connector_naming_the_variable_outside_dev(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "social.yaml").write_text(yaml.safe_dump(social_doc()))
    production = settings.model_copy(update={"env": "production", "connectors_dir": tmp_path})
    with pytest.raises(ConnectorConfigError) as info:
        load_connector_specs(production, strict=True)  # `hub connectors check`
    assert "settings.client_id: environment variable SOCIAL_CLIENT_ID is not set" in str(info.value)
    [spec] = load_connector_specs(production)  # start-up: typed fields, no calls
    assert spec.config.enabled is False
    assert "connector social disabled until its secrets are set" in caplog.text
    assert "SOCIAL_CLIENT_ID is not set" in caplog.text
    checked = CliRunner().invoke(
        app,
        ["connectors", "check"],
        env={
            "HUB_CONNECTORS_DIR": str(tmp_path),
            "HUB_ENV": "production",
            "HUB_AUTH_JWKS_URL": "https://keys.example/jwks",
        },
    )
    assert checked.exit_code == 1 and "SOCIAL_CLIENT_ID" in checked.output
    # in dev the sandbox's credentials stand in
    [spec] = load_connector_specs(settings.model_copy(update={"connectors_dir": tmp_path}))
    assert spec.config.settings.client_id.get() == "sandbox-client"


def test_connectors_test_fetches_a_sample_from_the_demo_sandbox(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "connectors"
    conf.mkdir()
    (conf / "social.yaml").write_text(yaml.safe_dump(social_doc(f"http://127.0.0.1:{port}")))
    external = f"p-{secrets.token_hex(6)}"

    async def prepare() -> tuple[str, str]:
        graph = connect_graph(settings)
        try:
            made = await create_person(graph, NewPerson(given_name="Sam", family_name="Sample", nino=random_nino()))
            unconsented = await create_person(
                graph, NewPerson(given_name="Al", family_name="Sample", nino=random_nino())
            )
            for p in (made, unconsented):
                await link_identity(graph, p.id, "social", f"{external}-{p.id[:4]}", method="test", linked_by="t")
            await grant_consent(graph, made.id, "social", "child-maintenance")
            return made.id, unconsented.id
        finally:
            await graph.close()

    person, unconsented = asyncio.run(prepare())
    runner = CliRunner()
    with DemoSandbox(tmp_path / "data", port=port) as sandbox:
        assert sandbox.process is not None and sandbox.process.poll() is None
        with DemoSandbox(tmp_path / "data2", port=port) as second:  # port taken: the running one answers
            assert second.process is None
        ok = runner.invoke(app, ["connectors", "test", "social", "--person", person], env=graph_env(settings, conf))
        refused = runner.invoke(
            app, ["connectors", "test", "social", "--person", unconsented], env=graph_env(settings, conf)
        )
    assert sandbox.process.poll() is not None  # stopped with the block
    assert ok.exit_code == 0, ok.output
    sample = json.loads(ok.stdout)
    assert sample["value"]["headline"] and sample["error"] is None
    assert sample["provenance"]["connector"] == "social" and sample["provenance"]["matchConfidence"] == 1.0
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["code"] == "CONSENT_REQUIRED"
