"""The declarative `rest` kind: a connector written only as YAML resolves typed fields against a local upstream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml
from hypothesis import given
from hypothesis import strategies as st

from connectors.errors import ConnectorConfigError, ErrorCode
from connectors.kinds.rest import RestConnector, parse_path, resolve_path
from connectors.registry import ConnectorRegistry, validate_config
from connectors.source import Source
from connectors.testing import merge

MakeSource = Callable[..., Source]
PartnerCalls = Callable[[], Awaitable[dict[str, int]]]

STEWARD_YAML = """\
# Written by a data steward: no code anywhere.
kind: rest
description: Employment facts from a partner department's records API
owner: partner-liaison@example.gov.uk
match: nino
lawful_basis: public_task
purpose: child_maintenance_assessment
consent_required: false
timeout: {{attempt: 1.0, total: 2.0}}
settings:
  url: "{base}/api/people/{{key}}"
  auth: {{type: bearer, token_env: PARTNER_TOKEN}}
  record_path: data
  batch:
    url: "{base}/api/people?ids={{keys}}"
    separator: "|"
    records_path: items
    key_path: person.id
  fields:
    reference: {{path: person.reference, type: str, required: true}}
    employer: {{path: employment.current.employer, type: str}}
    employed_since: {{path: employment.current.since, type: date}}
    previous_weekly_hours: {{path: "employment.history[0].weekly_hours", type: float}}
    verified: {{path: verified, type: bool}}
    children: {{path: children, type: int}}
    updated_at: {{path: updated_at, type: datetime}}
    shoe_size: {{path: body.shoe_size, type: int, description: "absent upstream, so always null"}}
"""


async def test_a_yaml_only_connector_resolves_typed_fields(
    tmp_path: Path,
    partner: str,
    partner_env: dict[str, str],
    partner_calls: PartnerCalls,
    partner_document: Callable[[str], dict[str, Any] | None],
    session: aiohttp.ClientSession,
    redis: aioredis.Redis,
) -> None:
    (tmp_path / "partner_employment.yaml").write_text(STEWARD_YAML.format(base=partner))
    registry = ConnectorRegistry.from_directory(
        tmp_path, session=session, redis=redis, environ=partner_env, cache_prefix=f"test:rest:{tmp_path.name}"
    )
    try:
        source = registry.get("partner_employment")
        record_type = source.fields
        assert record_type.__name__ == "PartnerEmploymentRecord"
        info = source.connector.describe()
        assert info.fields["employed_since"] == "date | None" and info.fields["reference"] == "str"

        result = await source.fetch_one("AB123456C")
        assert result.ok and isinstance(result.value, record_type)
        doc = partner_document("AB123456C")
        assert doc is not None
        value = result.value.model_dump()
        assert value == {
            "reference": doc["person"]["reference"],
            "employer": doc["employment"]["current"]["employer"],
            "employed_since": date.fromisoformat(doc["employment"]["current"]["since"]),
            "previous_weekly_hours": doc["employment"]["history"][0]["weekly_hours"],
            "verified": doc["verified"],
            "children": doc["children"],
            "updated_at": datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
            "shoe_size": None,
        }
        assert type(value["previous_weekly_hours"]) is float and type(value["children"]) is int

        keys = ["AB123456C", "CD111111A", "EF222222B", "unknown-1", "GH333333C"]
        many = await source.fetch(keys)
        assert [k for k, r in many.items() if r.value is None] == ["unknown-1"]
        assert await partner_calls() == {"single": 1, "batch": 1}  # AB… came from the cache, the rest in one batch
    finally:
        await registry.aclose()


async def test_a_value_of_the_wrong_type_is_a_bad_response_for_that_key_only(
    make_source: MakeSource, rest_config: dict[str, Any], partner_env: dict[str, str], partner: str
) -> None:
    batch = {
        "url": f"{partner}/api/people?ids={{keys}}",
        "separator": "|",
        "records_path": "items",
        "key_path": "person.id",
    }
    source = make_source(kind=RestConnector, document=rest_config, environ=partner_env, settings={"batch": batch})
    results = await source.fetch(["AB123456C", "broken-1"])
    assert results["AB123456C"].ok
    broken = results["broken-1"]
    assert broken.value is None and broken.error is not None
    assert broken.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE and "children" in broken.error.message
    single = await source.fetch_one("broken-2")
    assert single.error is not None and single.error.code is ErrorCode.CONNECTOR_BAD_RESPONSE


@pytest.mark.parametrize(
    ("auth", "ok"),
    [
        ({"type": "bearer", "token_env": "PARTNER_TOKEN"}, True),
        ({"type": "basic", "username_env": "PARTNER_USER", "password_env": "PARTNER_PASSWORD"}, True),
        ({"type": "basic", "username_env": "PARTNER_USER", "password_env": "PARTNER_TOKEN"}, False),
        ({"type": "api_key", "header": "X-Api-Key", "key_env": "PARTNER_TOKEN"}, False),
        ({"type": "none"}, False),
    ],
    ids=["bearer", "basic", "basic-wrong", "api-key-refused", "none-refused"],
)
async def test_auth_schemes_read_secrets_from_the_environment(
    make_source: MakeSource,
    rest_config: dict[str, Any],
    partner_env: dict[str, str],
    auth: dict[str, str],
    ok: bool,
) -> None:
    document = merge(rest_config, {})
    document["settings"]["auth"] = auth  # replaced whole, not merged
    source = make_source(kind=RestConnector, document=document, environ=partner_env)
    result = await source.fetch_one("AB123456C")
    if ok:
        assert result.ok and result.value is not None
    else:
        assert result.error is not None and result.error.code is ErrorCode.CONNECTOR_AUTH_FAILED
        assert source.snapshot().upstream_attempts == 1  # credentials are not retried


async def test_keys_are_percent_encoded_into_the_url(
    make_source: MakeSource,
    rest_config: dict[str, Any],
    partner_env: dict[str, str],
    partner_calls: PartnerCalls,
    partner_document: Callable[[str], dict[str, Any] | None],
) -> None:
    source = make_source(kind=RestConnector, document=rest_config, environ=partner_env)
    key = "../../_calls?x=1#y"  # spliced in raw it would reach another endpoint
    result = await source.fetch_one(key)
    expected = partner_document(key)
    assert expected is not None and result.ok and result.value is not None
    assert result.value.model_dump()["reference"] == expected["person"]["reference"]  # arrived whole, as one key
    assert (await partner_calls())["single"] == 1


BAD_SETTINGS = [
    ({"url": "http://partner.example/api/people"}, "settings.url", "{key}"),
    ({"url": "http://h/{key}/{other}"}, "settings.url", "{key}"),
    ({"url": "file:///etc/{key}"}, "settings.url", "http"),
    ({"fields": {"x": {"path": "a", "type": "decimal"}}}, "settings.fields.x.type", "'str'"),
    ({"fields": {"x": {"path": "a..b", "type": "str"}}}, "settings.fields.x.path", "malformed path"),
    ({"fields": {"Bad Name": {"path": "a", "type": "str"}}}, "settings.fields", "lower_snake_case"),
    ({"fields": {"model_dump": {"path": "a", "type": "str"}}}, "settings.fields", "model_"),
    ({"fields": {"copy": {"path": "a", "type": "str"}}}, "settings.fields", "reserved"),
    ({"headers": {"Authorization": "Bearer abc"}}, "settings.headers", "credentials"),
    ({"auth": {"type": "oauth"}}, "settings.auth", "tag"),
    ({"auth": {"type": "bearer", "token_env": "MISSING_TOKEN"}}, "settings.auth.bearer.token_env", "not set"),
    ({"batch": {"url": "http://h/people"}}, "settings.batch.url", "{keys}"),
    ({"not_found_status": [200]}, "settings", "4xx"),
]


@pytest.mark.parametrize(("change", "key", "words"), BAD_SETTINGS, ids=[b[1] + "-" + b[2] for b in BAD_SETTINGS])
def test_bad_declarations_fail_naming_the_key(
    rest_config: dict[str, Any], partner_env: dict[str, str], change: dict[str, Any], key: str, words: str
) -> None:
    document = merge(rest_config, {"settings": change})
    if "fields" in change:
        document["settings"]["fields"] = change["fields"]
    with pytest.raises(ConnectorConfigError) as caught:
        validate_config(RestConnector, document, environ=partner_env)
    assert key in caught.value.keys, caught.value
    assert words in str(caught.value)


def test_the_steward_yaml_is_plain_yaml() -> None:
    document = yaml.safe_load(STEWARD_YAML.format(base="http://x"))
    assert document["settings"]["fields"]["employed_since"] == {"path": "employment.current.since", "type": "date"}


@pytest.mark.parametrize(
    ("path", "segments"),
    [("", ()), ("a", ("a",)), ("a.b", ("a", "b")), ("a[0].b", ("a", 0, "b")), ("[2]", (2,)), ("a[0][1]", ("a", 0, 1))],
)
def test_paths_parse(path: str, segments: tuple[str | int, ...]) -> None:
    assert parse_path(path) == segments


@pytest.mark.parametrize("path", [".a", "a.", "a..b", "a.[0]", "a[x]", "a[0]b", "a[", "a]"])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="malformed path"):
        parse_path(path)


_names = st.text(alphabet=st.characters(blacklist_characters=".[]", blacklist_categories=("Cs",)), min_size=1)


@given(st.lists(st.one_of(_names, st.integers(0, 50)), min_size=1, max_size=6).filter(lambda s: isinstance(s[0], str)))
def test_paths_round_trip_and_resolve(segments: list[str | int]) -> None:
    text = "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s) for i, s in enumerate(segments))
    assert parse_path(text) == tuple(segments)
    document: Any = "leaf"
    for segment in reversed(segments):
        document = [None] * segment + [document] if isinstance(segment, int) else {segment: document}
    assert resolve_path(document, tuple(segments)) == "leaf"
