"""`hub export`: the subject-access document from the command line, and the export is audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import MakePerson

from graph import audit
from graph.driver import Graph
from hub.settings import Settings


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def env_for(settings: Settings) -> dict[str, str]:
    assert settings.neo4j_uri and settings.neo4j_password and settings.redis_url
    return {
        **os.environ,
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_USER": settings.neo4j_user,
        "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        "NEO4J_DATABASE": settings.neo4j_database or "",
        "REDIS_URL": settings.redis_url,
    }


async def test_export_writes_the_document_and_audits_it(
    graph: Graph, settings: Settings, make_person: MakePerson, tmp_path: Path
) -> None:
    p = await make_person(given="Xena")
    out = tmp_path / "sar.json"
    result = hub(env_for(settings), "export", "--person", p.id, "--output", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["person"]["id"] == p.id and doc["person"]["givenName"] == "Xena"
    [log] = await audit.access_log(graph, [p.id])
    assert [(e.actor_role, e.fields) for e in log] == [("operator", ("subjectAccessExport",))]

    missing = hub(env_for(settings), "export", "--person", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == 1 and "not found" in missing.stderr
