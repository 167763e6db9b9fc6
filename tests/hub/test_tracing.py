"""OpenTelemetry: one trace from the caller's `traceparent` through the operation, DataLoader batches,
Cypher statements and a connector call to a real upstream, which receives the trace context.

Spans are collected by the SDK's in-memory exporter; the upstream is a real aiohttp server on loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiohttp import web
from conftest import LogCapture, MakePerson
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from ops_support import write_rest_connector
from starlette.applications import Starlette
from support import serving

from connectors.http import create_session, request_json
from hub.app import create_app
from hub.settings import Settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The SDK with an in-memory exporter, installed once for the process (the API allows one provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "no other test installed a provider first"
    yield exporter
    exporter.clear()


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A partner API by NINO that records the trace headers each call carried."""
    seen: list[dict[str, str]] = []

    async def one(request: web.Request) -> web.StreamResponse:
        seen.append({k.lower(): v for k, v in request.headers.items() if k.lower() in ("traceparent", "tracestate")})
        return web.json_response({"nino": request.match_info["nino"], "award": {"type": "UC"}})

    app = web.Application()
    app.add_routes([web.get("/benefits/{nino}", one)])
    async with serving(app) as url:
        yield url, seen


@pytest.fixture(scope="module")
async def tapp(
    settings: Settings, upstream: tuple[str, list[dict[str, str]]], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Starlette]:
    connectors = tmp_path_factory.mktemp("traced-connectors")
    policy_file = tmp_path_factory.mktemp("traced-policy") / "policies.yaml"
    write_rest_connector(connectors, policy_file, upstream[0])
    application = create_app(settings.model_copy(update={"connectors_dir": connectors, "policy_file": policy_file}))
    async with application.router.lifespan_context(application):
        yield application


def in_trace(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]


def one(spans: list[ReadableSpan], prefix: str) -> ReadableSpan:
    found = [s for s in spans if s.name.startswith(prefix)]
    assert len(found) == 1, (prefix, [s.name for s in spans])
    return found[0]


def parent_of(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent else None


def span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


async def test_one_trace_from_the_caller_to_cypher_and_the_upstream(
    spans: InMemorySpanExporter,
    tapp: Starlette,
    upstream: tuple[str, list[dict[str, str]]],
    caseworker: dict[str, str],
    make_person: MakePerson,
    no_personal_data_in_logs: LogCapture,
) -> None:
    me = await make_person(given="Tracy")
    upstream[1].clear()
    query = "query Traced($id: ID!) { person(id: $id) { givenName nino partnerBenefits { awardType } } }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tapp), base_url="http://hub.test") as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": me.id}, "operationName": "Traced"},
            headers={**caseworker, "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01", "x-request-id": "traced-1"},
        )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["person"]["partnerBenefits"] == {"awardType": "UC"}

    got = in_trace(spans, TRACE_ID)
    server = one(got, "POST /graphql")
    assert parent_of(server) == CALLER_SPAN, "the caller's traceparent is continued, not replaced"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    operation = one(got, "graphql Traced")
    assert parent_of(operation) == span_id(server)
    cypher = [s for s in got if s.name.startswith("cypher ")]
    assert cypher and all(s.attributes and "db.query.text" in s.attributes for s in cypher)
    assert any(s.name == "cypher person._get_by" for s in cypher)
    batches = [s for s in got if s.name.startswith("dataloader ")]
    assert any(
        s.name == "dataloader get_people" and s.attributes and s.attributes["hub.batch.size"] == 1 for s in batches
    )
    connector = one(got, "connector ")
    assert connector.kind == trace.SpanKind.CLIENT

    # The upstream received the same trace, with the connector call's span as its parent.
    assert upstream[1] == [{"traceparent": f"00-{TRACE_ID}-{span_id(connector)}-01"}]

    # Statement text only, never values: no span carries the person's identifiers or names.
    text = json.dumps([dict(s.attributes or {}) for s in got] + [s.name for s in got])
    for secret in (me.id, me.nino, me.given_name, me.family_name):
        assert secret and secret not in text
    assert "$" in text, "statements are parameterised"

    lines = [json.loads(x) for x in no_personal_data_in_logs.lines if '"traced-1"' in x]
    assert lines and all(line["trace_id"] == TRACE_ID for line in lines)


async def test_without_a_caller_trace_the_hub_starts_one_and_logs_it(
    spans: InMemorySpanExporter,
    client: httpx.AsyncClient,
    caseworker: dict[str, str],
    no_personal_data_in_logs: LogCapture,
) -> None:
    await client.post("/graphql", json={"query": "{ __typename }"}, headers={**caseworker, "x-request-id": "fresh-1"})
    lines = [json.loads(x) for x in no_personal_data_in_logs.lines if '"fresh-1"' in x]
    trace_id = lines[-1]["trace_id"]
    assert trace_id and len(trace_id) == 32
    server = one(in_trace(spans, trace_id), "POST /graphql")
    assert server.parent is None


async def test_connector_calls_carry_the_current_trace_upstream(
    spans: InMemorySpanExporter, upstream: tuple[str, list[dict[str, str]]]
) -> None:
    upstream[1].clear()
    tracer = trace.get_tracer("test")
    async with create_session() as session:
        with tracer.start_as_current_span("caller") as caller:
            await request_json(session, "GET", f"{upstream[0]}/benefits/AB123456C", what="benefits")
        await request_json(session, "GET", f"{upstream[0]}/benefits/AB123456C", what="benefits")
    tid = format(caller.get_span_context().trace_id, "032x")
    first, second = upstream[1]
    assert first["traceparent"].startswith(f"00-{tid}-")
    assert not second["traceparent"].startswith(f"00-{tid}-"), "outside the caller's span: a trace of its own"
    call = one(in_trace(spans, tid), "connector benefits")
    assert call.attributes is not None and call.attributes["server.address"] == "127.0.0.1"
    assert "AB123456C" not in json.dumps(dict(call.attributes))


def test_no_endpoint_means_no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.tracing import configure_tracing

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert configure_tracing() is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_tracing() is False
