"""The two SDLs: the API clients code against (`hub schema`) and the subgraph SDL (`hub schema --federation`)."""

from __future__ import annotations

import re

import graphql
import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.connectors import schema_specs
from hub.settings import load_settings
from schema import build_schema
from schema.federation.authorization import governed
from schema.permissions import OPEN_TYPES


def test_subgraph_sdl_links_federation_2_and_keys_person_by_id_and_nino() -> None:
    sdl = build_schema().subgraph_sdl()
    assert sdl.startswith('schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@tag"])')
    assert 'type Person @key(fields: "id") @key(fields: "nino") {' in sdl
    assert "union _Entity = MaintenanceCase | Person" in sdl
    assert "_entities(representations: [_Any!]!): [_Entity]!" in sdl
    for field in ("createdAt: DateTime", "updatedAt: DateTime", "version: Int"):
        assert f'{field} @tag(name: "internal")' in sdl
    assert "@shareable" not in sdl  # the hub is the system of record for every field it serves
    assert "@authenticated" not in sdl and "@policy" not in sdl  # the Node gateway would refuse them


def test_hub_schema_prints_the_api_and_federation_the_subgraph_sdl() -> None:
    runner = CliRunner()
    api = runner.invoke(app, ["schema"])
    assert api.exit_code == 0
    graphql.build_schema(api.output)  # self-contained: SDL tools and codegen read it as it is
    for plumbing in ("_entities", "_service", "_Any", "_Entity", "@key", "@link", "directive @"):
        assert plumbing not in api.output
    federation = runner.invoke(app, ["schema", "--federation"], env={"HUB_FEDERATION_AUTH_DIRECTIVES": "false"})
    assert federation.exit_code == 0
    expected = build_schema(connectors=schema_specs(load_settings())).subgraph_sdl()
    assert federation.output == expected.rstrip("\n") + "\n"
    assert "socialProfile: SocialProfile" in api.output  # connector fields need no secrets to print


def test_router_authorization_directives_mirror_the_field_policy() -> None:
    result = CliRunner().invoke(app, ["schema", "--federation"], env={"HUB_FEDERATION_AUTH_DIRECTIVES": "true"})
    assert result.exit_code == 0
    sdl = result.output
    assert re.search(r'import: \["@authenticated", "@key", "@policy", "@tag"\]', sdl)
    document = graphql.parse(sdl)
    checked = 0
    for node in document.definitions:
        if not isinstance(node, graphql.ObjectTypeDefinitionNode):
            continue
        for field in node.fields or ():
            coordinate = f"{node.name.value}.{field.name.value}"
            applied = {d.name.value: graphql.print_ast(d) for d in field.directives or ()}
            if governed(node.name.value) and coordinate not in {"Query._entities", "Query._service"}:
                assert applied["authenticated"] == "@authenticated", coordinate
                assert applied["policy"] == f'@policy(policies: [["{coordinate}"]])', coordinate
                checked += 1
            else:
                assert not {"authenticated", "policy"} & set(applied), coordinate
    assert checked > 40
    assert 'nino: String @authenticated @policy(policies: [["Person.nino"]])' in sdl
    assert 'personByNino(nino: String!): Person @authenticated @policy(policies: [["Query.personByNino"]])' in sdl
    assert "PageInfo" in OPEN_TYPES and "hasNextPage: Boolean!\n" in sdl


@pytest.mark.parametrize("auth", [False, True])
def test_service_field_answers_the_schemas_own_subgraph_sdl(auth: bool) -> None:
    schema = build_schema(federation_auth_directives=auth)
    assert schema.subgraph_sdl() is schema.subgraph_sdl()  # rendered once
    assert ("@policy" in schema.subgraph_sdl()) is auth
