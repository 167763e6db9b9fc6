"""`hub serve` configured by the standard OTEL_* variables exports spans over OTLP/HTTP to a collector.

The collector is a real HTTP server on loopback that decodes the OTLP protobuf payloads it receives.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from aiohttp import web
from conftest import MintToken
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from ops_support import StartHub
from support import serving


async def test_spans_reach_an_otlp_collector_named_by_the_environment(start_hub: StartHub, token: MintToken) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    collector = web.Application()
    collector.add_routes([web.post("/v1/traces", traces)])
    async with serving(collector) as url:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_SERVICE_NAME": "hub-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        hub = await asyncio.to_thread(start_hub, env=env)
        headers = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "child-maintenance"}
        trace_id = "0af7651916cd43dd8448eb211c80319c"
        async with httpx.AsyncClient(base_url=hub.url) as client:
            response = await client.post(
                "/graphql",
                json={"query": "query Exported { __typename }", "operationName": "Exported"},
                headers={**headers, "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
            )
            assert response.status_code == 200
        deadline = time.monotonic() + 20
        names: set[str] = set()
        while time.monotonic() < deadline and "graphql Exported" not in names:
            await asyncio.sleep(0.2)
            names = {
                span.name
                for message in received
                for resource_spans in message.resource_spans
                for scope in resource_spans.scope_spans
                for span in scope.spans
                if span.trace_id.hex() == trace_id
            }
        assert {"POST /graphql", "graphql Exported"} <= names, names
        services = {
            attr.value.string_value
            for message in received
            for resource_spans in message.resource_spans
            for attr in resource_spans.resource.attributes
            if attr.key == "service.name"
        }
        assert services == {"hub-under-test"}
        assert await asyncio.to_thread(hub.stop) == 0
