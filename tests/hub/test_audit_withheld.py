"""No personal data leaves without its audit record: when the record cannot be written, the response is withheld."""

from __future__ import annotations

import httpx
from conftest import MakePerson

from graph import audit
from graph.driver import Graph
from hub.app import create_app
from hub.settings import Settings


async def test_a_failed_audit_write_withholds_the_data(
    settings: Settings, graph: Graph, caseworker: dict[str, str], make_person: MakePerson
) -> None:
    person = await make_person(given="Withheld")
    app = create_app(settings)  # its own audit writer, so stopping it leaves the shared app alone
    query = {"query": "query($id: ID!) { person(id: $id) { nino givenName } }", "variables": {"id": person.id}}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            served = (await client.post("/graphql", json=query, headers=caseworker)).json()
            assert served["data"]["person"]["nino"] == person.nino  # the writer works: data and record
            await app.state.resources.audit.close()  # the writer is gone: no record can be written
            refused = await client.post("/graphql", json=query, headers=caseworker)
    body = refused.json()
    assert body == {
        "data": None,
        "errors": [
            {"message": "The audit trail is unavailable; try again.", "extensions": {"code": "AUDIT_UNAVAILABLE"}}
        ],
    }
    assert person.nino not in refused.text and "Withheld" not in refused.text
    [log] = await audit.access_log(graph, [person.id])
    assert len(log) == 1  # the served read is recorded; the withheld one left nothing behind
