"""The audit writer appends in one statement once it knows its chain's head, and falls back safely."""

from __future__ import annotations

import asyncio

from conftest import MakePerson

from graph import audit
from graph.driver import Graph

ACTOR = audit.Actor(subject="caseworker-9", role="caseworker", department=None, purpose="child-maintenance")


def mine(problems: list[str], chain: str) -> list[str]:
    return [p for p in problems if p.startswith(f"chain {chain}:")]


async def test_one_statement_per_append_after_the_first(graph: Graph, make_person: MakePerson) -> None:
    a = (await make_person()).id
    trail = audit.AuditTrail(graph)
    await trail.start()
    try:
        await trail.record(ACTOR, "r-0", {a: ["nino"]})  # learns the head: lock, then append
        before = graph.stats.round_trips
        for i in range(1, 4):
            await trail.record(ACTOR, f"r-{i}", {a: ["nino", "givenName"]})
        assert graph.stats.round_trips - before == 3
    finally:
        await trail.close()
    assert mine(await audit.verify_chains(graph), trail.chain) == []
    [entries] = await audit.access_log(graph, [a])
    assert [e.request_id for e in entries if e.actor == ACTOR.subject][:4] == ["r-3", "r-2", "r-1", "r-0"]


async def test_another_writer_on_the_chain_makes_it_fall_back_without_a_fork(
    graph: Graph, make_person: MakePerson
) -> None:
    a = (await make_person()).id
    trail = audit.AuditTrail(graph)
    await trail.start()
    try:
        await trail.record(ACTOR, "mine-1", {a: ["nino"]})
        await audit.record_access(graph, ACTOR, "theirs", {a: ["nino"]}, chain=trail.chain)
        before = graph.stats.round_trips
        await trail.record(ACTOR, "mine-2", {a: ["nino"]})
        assert graph.stats.round_trips - before == 3  # the refused one-statement try, then lock + append
        await trail.record(ACTOR, "mine-3", {a: ["nino"]})
    finally:
        await trail.close()
    assert mine(await audit.verify_chains(graph), trail.chain) == []
    [entries] = await audit.access_log(graph, [a])
    assert {"mine-1", "theirs", "mine-2", "mine-3"} <= {e.request_id for e in entries}


async def test_a_read_of_a_person_since_deleted_is_still_recorded(graph: Graph, make_person: MakePerson) -> None:
    a = (await make_person()).id
    trail = audit.AuditTrail(graph)
    await trail.start()
    try:
        await trail.record(ACTOR, "first", {a: ["nino"]})
        event = await trail.record(ACTOR, "ghost", {"00000000-0000-4000-8000-000000000000": ["nino"], a: ["nino"]})
    finally:
        await trail.close()
    assert event and mine(await audit.verify_chains(graph), trail.chain) == []


async def test_two_writers_racing_on_one_chain_in_one_statement_appends_never_fork_it(
    graph: Graph, make_person: MakePerson
) -> None:
    """Both writers know a head, so each tries its one-statement append; the loser falls back, the chain stays whole."""
    a = (await make_person()).id
    first = audit.AuditTrail(graph)
    await first.start()
    second = audit.AuditTrail(graph, chain=first.chain)
    await second.start()
    try:
        await first.record(ACTOR, "warm-1", {a: ["nino"]})
        await second.record(ACTOR, "warm-2", {a: ["nino"]})  # both now know a head: the race is one-statement
        ids = await asyncio.gather(
            *(trail.record(ACTOR, f"race-{i}", {a: ["nino"]}) for i in range(20) for trail in (first, second))
        )
    finally:
        await first.close()
        await second.close()
    assert len(set(ids)) == 40
    assert mine(await audit.verify_chains(graph), first.chain) == []
    [entries] = await audit.access_log(graph, [a], limit=100)
    assert {f"race-{i}" for i in range(20)} <= {e.request_id for e in entries}
    assert sum(e.request_id.startswith("race-") for e in entries) == 40  # each event exactly once
