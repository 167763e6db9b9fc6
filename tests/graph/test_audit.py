"""The audit trail: durable, per-person, and tamper-evident (against its own fresh graph server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from support import random_nino, unique_family

from graph import audit
from graph.driver import Graph
from graph.migrations import migrate
from graph.models import NewPerson
from graph.person import create_person
from hub.embedded import ArcadeDBServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArcadeDBServer]:
    with ArcadeDBServer(tmp_path_factory.mktemp("audit")) as s:
        yield s


@pytest.fixture
async def fresh(server: ArcadeDBServer) -> AsyncIterator[Graph]:
    g = Graph.connect(server.bolt_uri, server.user, server.password, server.database, max_transaction_retry_time=5)
    await migrate(g)
    try:
        yield g
    finally:
        # Each test starts from an empty trail: an attacker's edits must not leak into the next test.
        async with g.driver.session(database=g.database) as s:
            await (await s.run("MATCH (e:AccessEvent) DETACH DELETE e")).consume()
            await (await s.run("MATCH (c:AuditChain) DETACH DELETE c")).consume()
        await g.close()


ACTOR = audit.Actor(subject="caseworker-7", role="caseworker", department=None, purpose="child-maintenance")


async def people(g: Graph, n: int) -> list[str]:
    family = unique_family()
    return [
        (await create_person(g, NewPerson(given_name=f"P{chr(97 + i)}", family_name=family, nino=random_nino()))).id
        for i in range(n)
    ]


async def test_records_are_listed_per_person_newest_first(fresh: Graph) -> None:
    a, b = await people(fresh, 2)
    await audit.record_access(fresh, ACTOR, "req-1", {a: ["nino", "givenName"], b: ["givenName"]})
    await audit.record_access(fresh, ACTOR, "req-2", {a: ["claims"]})
    log_a, log_b = await audit.access_log(fresh, [a, b])
    assert [(e.request_id, e.fields) for e in log_a] == [("req-2", ("claims",)), ("req-1", ("givenName", "nino"))]
    assert [(e.request_id, e.person_id, e.purpose) for e in log_b] == [("req-1", b, "child-maintenance")]
    assert sorted(e.person_id for e in await audit.events_by_actor(fresh, "caseworker-7")) == sorted([a, a, b])
    assert await audit.verify_chains(fresh) == []


async def test_concurrent_requests_are_batched_into_one_unforked_chain(fresh: Graph) -> None:
    [a, b] = await people(fresh, 2)
    trail = audit.AuditTrail(fresh)
    await trail.start()
    try:
        ids = await asyncio.gather(*(trail.record(ACTOR, f"req-{i}", {(a, b)[i % 2]: ["nino"]}) for i in range(60)))
    finally:
        await trail.close()
    assert len(set(ids)) == 60
    assert await audit.verify_chains(fresh) == []
    log_a, log_b = await audit.access_log(fresh, [a, b], limit=100)
    assert (len(log_a), len(log_b)) == (30, 30)


async def test_two_writers_on_one_chain_never_fork_it(fresh: Graph) -> None:
    [a] = await people(fresh, 1)
    await asyncio.gather(
        *(audit.record_access(fresh, ACTOR, f"w-{i}", {a: ["nino"]}, chain="shared") for i in range(4))
    )
    assert await audit.verify_chains(fresh) == []


async def raw(g: Graph, query: str, **params: object) -> None:
    """An attacker with direct database access."""
    async with g.driver.session(database=g.database) as s:
        await (await s.run(query, params)).consume()


async def test_an_edited_record_is_detected(fresh: Graph) -> None:
    [a] = await people(fresh, 1)
    for _i in range(3):
        await audit.record_access(fresh, ACTOR, "edit-me", {a: ["nino"]}, chain="edit")
    await raw(fresh, "MATCH (e:AccessEvent {requestId: 'edit-me', seq: 2}) SET e.purpose = 'benefits-assessment'")
    problems = await audit.verify_chains(fresh)
    assert len(problems) == 1 and "#2" in problems[0] and "altered" in problems[0]


async def test_a_deleted_record_is_detected(fresh: Graph) -> None:
    [a] = await people(fresh, 1)
    for _i in range(3):
        await audit.record_access(fresh, ACTOR, "delete-me", {a: ["nino"]})
    await raw(fresh, "MATCH (e:AccessEvent {requestId: 'delete-me', seq: 2}) DETACH DELETE e")
    problems = await audit.verify_chains(fresh)
    assert any("#2 is missing" in p for p in problems)


async def test_deleting_the_newest_record_is_detected(fresh: Graph) -> None:
    [a] = await people(fresh, 1)
    for _i in range(2):
        await audit.record_access(fresh, ACTOR, "tail", {a: ["nino"]})
    await raw(fresh, "MATCH (e:AccessEvent {requestId: 'tail', seq: 2}) DETACH DELETE e")
    assert any("missing" in p for p in await audit.verify_chains(fresh))


async def test_rewriting_a_record_and_its_hash_is_still_detected(fresh: Graph) -> None:
    """Recomputing the edited event's own hash does not help: the next event names the old one."""
    [a] = await people(fresh, 1)
    for _i in range(3):
        await audit.record_access(fresh, ACTOR, "rehash", {a: ["nino"]})
    async with fresh.driver.session(database=fresh.database) as s:
        result = await s.run("MATCH (e:AccessEvent {requestId: 'rehash', seq: 1}) RETURN e {.*} AS e")
        e = (await result.single())["e"]  # type: ignore[index]
    e["purpose"] = "fraud"
    forged = audit.event_hash(e["prevHash"], e)
    await raw(
        fresh, "MATCH (e:AccessEvent {requestId: 'rehash', seq: 1}) SET e.purpose = 'fraud', e.hash = $h", h=forged
    )
    problems = await audit.verify_chains(fresh)
    assert any("#2 does not follow" in p for p in problems)
