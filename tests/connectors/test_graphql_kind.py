"""The declarative `graphql` kind against a real partner GraphQL API (Strawberry on aiohttp, loopback): keys
batched into one upstream query, declared fields typed, bad answers typed errors, YAML mistakes named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from connectors.errors import ConnectorConfigError, ErrorCode
from connectors.kinds.graphql import GraphQLConnector, selection
from connectors.registry import validate_config
from connectors.sandbox.base import Fault
from connectors.sandbox.partner import PartnerGraphQLSandbox, PartnerState, partner_person
from connectors.testing import get_connector_test_class, merge

TOKEN_ENV = {"PARTNER_GRAPHQL_TOKEN": "partner-gql-token-1"}


@pytest.fixture
async def partner_gql() -> AsyncIterator[PartnerGraphQLSandbox]:
    async with PartnerGraphQLSandbox(PartnerState(token=TOKEN_ENV["PARTNER_GRAPHQL_TOKEN"])) as running:
        yield running


@pytest.fixture
def gql_env() -> dict[str, str]:
    return dict(TOKEN_ENV)


@pytest.fixture
def gql_config(partner_gql: PartnerGraphQLSandbox) -> dict[str, Any]:
    return {
        "name": "partner_household",
        "kind": "graphql",
        "description": "Employment and household facts from a partner department's GraphQL API",
        "owner": "partner-liaison@example.gov.uk",
        "match": "external_id",
        "lawful_basis": "public_task",
        "purpose": "child-maintenance",
        "consent_required": False,
        "timeout": {"attempt": 0.5, "total": 1.5},
        "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.05},
        "settings": {
            "url": f"{partner_gql.url}/graphql",
            "auth": {"type": "bearer", "token_env": "PARTNER_GRAPHQL_TOKEN"},
            "query_field": "people",
            "key_argument": "ids",
            "key_type": "[ID!]!",
            "key_field": "id",
            "max_batch": 50,
            "fields": {
                "reference": {"path": "reference", "type": "str", "required": True},
                "employer": {"path": "employment.employer", "type": "str"},
                "hours_per_week": {"path": "employment.hoursPerWeek", "type": "float"},
                "employed_since": {"path": "employment.since", "type": "date"},
                "children": {"path": "household.children", "type": "int"},
                "verified": {"path": "verified", "type": "bool"},
            },
        },
    }


TestGraphQLContract = get_connector_test_class(
    GraphQLConnector,
    config="gql_config",
    environ="gql_env",
    sample_keys=["p-1", "p-2", "p-3"],
    missing_keys=["missing-9"],
    dead_config=lambda d: merge(d, {"settings": {"url": "http://127.0.0.1:9/graphql"}}),
)


def make(make_source: Any, document: dict[str, Any], **overrides: Any) -> Any:
    return make_source(kind=GraphQLConnector, document=document, environ=TOKEN_ENV, store=False, **overrides)


def test_the_selection_is_built_from_the_declared_paths() -> None:
    paths = [("id",), ("employment", "employer"), ("employment", "since"), ("jobs", 0, "title"), ("verified",)]
    assert selection(paths) == "id employment { employer since } jobs { title } verified"


async def test_fifty_keys_are_one_upstream_query_with_typed_fields(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox
) -> None:
    keys = [f"p-{i}" for i in range(50)] + ["missing-1"]
    results = await make(make_source, gql_config, settings={"max_batch": 100}).fetch(keys)
    assert partner_gql.state.api_calls == 1 and partner_gql.state.id_counts == [51]
    assert results["missing-1"].ok and results["missing-1"].value is None
    record = results["p-7"].value
    doc = partner_person("p-7")
    assert record is not None and doc is not None
    assert record.reference == doc["reference"] and record.employer == doc["employment"]["employer"]
    assert record.hours_per_week == doc["employment"]["hoursPerWeek"]
    assert record.employed_since == date.fromisoformat(doc["employment"]["since"])
    assert record.children == doc["household"]["children"] and record.verified is doc["verified"]


async def test_batches_are_split_at_max_batch(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox
) -> None:
    await make(make_source, gql_config, settings={"max_batch": 20}).fetch([f"q-{i}" for i in range(45)])
    assert sorted(partner_gql.state.id_counts) == [5, 20, 20]


async def test_a_wrong_typed_value_fails_only_that_key(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox
) -> None:
    results = await make(make_source, gql_config).fetch(["broken-1", "p-1"])
    broken = results["broken-1"]
    assert broken.error is not None and broken.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE
    assert "children" in broken.error.message and results["p-1"].ok


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(mode="error_500"), ErrorCode.CONNECTOR_UNAVAILABLE),
        (Fault(mode="garbage_json"), ErrorCode.CONNECTOR_BAD_RESPONSE),
        (Fault(mode="wrong_schema"), ErrorCode.CONNECTOR_BAD_RESPONSE),
        (Fault(mode="hang"), ErrorCode.CONNECTOR_TIMEOUT),
        (Fault(mode="auth_failure"), ErrorCode.CONNECTOR_AUTH_FAILED),
    ],
    ids=lambda v: v.mode if isinstance(v, Fault) else "",
)
async def test_faults_are_typed_errors(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox, fault: Fault, code: ErrorCode
) -> None:
    partner_gql.state.inject(fault)
    results = await make(make_source, gql_config).fetch(["p-1", "p-2"])
    assert all(r.value is None and r.error is not None and r.error.code is code for r in results.values())


async def test_a_wrong_token_is_an_auth_failure(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox
) -> None:
    source = make_source(
        kind=GraphQLConnector, document=gql_config, environ={"PARTNER_GRAPHQL_TOKEN": "nope"}, store=False
    )
    result = await source.fetch_one("p-1")
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_AUTH_FAILED


async def test_graphql_errors_without_data_are_a_bad_response(
    make_source: Any, gql_config: dict[str, Any], partner_gql: PartnerGraphQLSandbox
) -> None:
    # A field the partner's schema does not have: it answers with errors and no data.
    document = merge(gql_config, {"settings": {"fields": {"nickname": {"path": "nickname", "type": "str"}}}})
    result = await make(make_source, document).fetch_one("p-1")
    assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"query_field": "people { id } hack: people"}, "settings.query_field"),
        ({"key_argument": "ids: [1]) {"}, "settings.key_argument"),
        ({"key_type": "[ID!]!) { __schema"}, "settings.key_type"),
        ({"fields": {"x": {"path": "employment.employer { secret }", "type": "str"}}}, "settings.fields"),
        ({"key_field": "id-x"}, "settings.key_field"),
    ],
)
def test_yaml_cannot_change_the_document_and_errors_name_the_key(
    gql_config: dict[str, Any], change: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        validate_config(GraphQLConnector, merge(gql_config, {"settings": change}), environ=TOKEN_ENV)
    assert any(k.startswith(key) for k in caught.value.keys), caught.value.keys


# -- in the hub's schema, from YAML alone ---------------------------------------------------------------------


async def test_a_yaml_only_graphql_connector_is_typed_person_fields_that_resolve_in_one_query(
    gql_config: dict[str, Any],
    partner_gql: PartnerGraphQLSandbox,
    settings: Any,
    tmp_path: Any,
    make_person: Any,
    caseworker: dict[str, str],
) -> None:
    import os

    import httpx
    import yaml

    from hub.app import create_app
    from hub.settings import DEFAULT_POLICY

    document = merge(gql_config, {"match": "nino"})
    del document["name"]
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "partner_household.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy["grants"].append(
        {
            "role": "caseworker",
            "purpose": "child-maintenance",
            "connector": "partner_household",
            "read": ["Person.partnerHousehold", "PartnerHouseholdRecord.*", "ConnectorProvenance.*"],
        }
    )
    (tmp_path / "policies.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    os.environ.update(TOKEN_ENV)
    try:
        configured = {"connectors_dir": tmp_path / "connectors", "policy_file": tmp_path / "policies.yaml"}
        app = create_app(settings.model_copy(update=configured))
    finally:
        del os.environ["PARTNER_GRAPHQL_TOKEN"]
    people = [await make_person() for _ in range(5)]
    query = (
        f'{{ people(filter: {{familyName: "{people[0].family_name}"}}, first: 10) {{ nodes {{ nino partnerHousehold '
        "{ reference employer hoursPerWeek employedSince children verified provenance { connector } } } } }"
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
            body = (await client.post("/graphql", json={"query": query}, headers=caseworker)).json()
    assert "errors" not in body, body
    nodes = body["data"]["people"]["nodes"]
    assert len(nodes) == 5
    for node in nodes:
        doc = partner_person(node["nino"])
        assert doc is not None
        assert node["partnerHousehold"]["reference"] == doc["reference"]
        assert node["partnerHousehold"]["hoursPerWeek"] == doc["employment"]["hoursPerWeek"]
        assert node["partnerHousehold"]["provenance"] == {"connector": "partner_household"}
    assert partner_gql.state.api_calls == 1 and partner_gql.state.id_counts == [5]
