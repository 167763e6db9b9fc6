"""The composition check (`federation/compose.mjs`): Apollo's composition library on the hub's SDL and partners'."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from schema import build_schema

RunNode = Callable[..., subprocess.CompletedProcess[str]]


def test_the_hub_composes_with_the_hmrc_partner_subgraph(
    run_node: RunNode, hub_sdl: Path, partner_sdl: Path, tmp_path: Path
) -> None:
    out = tmp_path / "supergraph.graphql"
    result = run_node("compose.mjs", "--out", str(out), f"hub={hub_sdl}", f"hmrc={partner_sdl}")
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr and "composed 2 subgraph(s)" in result.stderr
    supergraph = out.read_text()
    assert 'HUB @join__graph(name: "hub"' in supergraph and 'HMRC @join__graph(name: "hmrc"' in supergraph
    assert 'type Person\n  @join__type(graph: HMRC, key: "nino")' in supergraph
    assert "earnings: [EarningsPeriod!]! @join__field(graph: HMRC)" in supergraph


def test_the_sdl_can_come_from_hub_schema_on_stdin(run_node: RunNode, partner_sdl: Path) -> None:
    result = run_node("compose.mjs", "hub=-", str(partner_sdl), stdin=build_schema().subgraph_sdl())
    assert result.returncode == 0, result.stderr


def test_router_authorization_directives_compose(run_node: RunNode, partner_sdl: Path, tmp_path: Path) -> None:
    sdl = tmp_path / "hub-auth.graphql"
    sdl.write_text(build_schema(federation_auth_directives=True).subgraph_sdl())
    result = run_node("compose.mjs", f"hub={sdl}", str(partner_sdl))
    assert result.returncode == 0, result.stderr


def test_a_partner_that_claims_the_hubs_fields_is_refused(run_node: RunNode, hub_sdl: Path, tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.graphql"
    rogue.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])\n'
        'type Person @key(fields: "nino") { nino: String! givenName: Int }\n'
        "type Query { rogue: Person }\n"
    )
    result = run_node("compose.mjs", f"hub={hub_sdl}", f"rogue={rogue}")
    assert result.returncode == 1
    assert "ERROR INVALID_FIELD_SHARING" in result.stderr and '"Person.givenName"' in result.stderr
    assert "ERROR FIELD_TYPE_MISMATCH" in result.stderr
    assert "composition failed" in result.stderr


def test_unreadable_or_invalid_sdl_and_bad_usage(run_node: RunNode, hub_sdl: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.graphql"
    broken.write_text('type Person @key(fields: "nino") { nino: String!\n')
    result = run_node("compose.mjs", f"hub={hub_sdl}", f"broken={broken}", f"gone={tmp_path / 'nope.graphql'}")
    assert result.returncode == 1
    assert "ERROR INVALID_GRAPHQL [broken]" in result.stderr and "ERROR UNREADABLE_SDL [gone]" in result.stderr
    assert run_node("compose.mjs").returncode == 2
