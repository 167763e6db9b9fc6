"""Steward decisions in the graph, where concurrency matters: two stewards deciding on one identity at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest
from conftest import MakePerson

from bench.linkage import Trained
from graph.driver import Graph
from graph.errors import InvalidValue
from graph.identity import link_identity
from graph.linkage.decision import Outcome, Thresholds
from graph.linkage.links import candidates_for_identity, links_for_person
from graph.linkage.resolver import ExternalRecord, Resolver
from graph.linkage.steward import accept_candidate, check_reason, relink_identity

REVIEW_ALL = Thresholds(auto_link_bits=1000, review_bits=11.4, margin=5)


@pytest.mark.parametrize("rounds", [3])
async def test_two_stewards_accepting_twins_at_once_link_the_identity_to_one_person(
    graph: Graph, trained: Trained, make_person: MakePerson, rounds: int
) -> None:
    for i in range(rounds):
        born = date(1920 + i, 2, 11)
        james = await make_person("James", born=born)
        john = await make_person("John", born=born)
        source = f"race-{uuid.uuid4().hex[:8]}"
        record = {"givenName": "J.", "familyName": james.family_name, "dateOfBirth": born.isoformat()}
        decision = await Resolver(graph, trained.model, REVIEW_ALL).resolve(ExternalRecord(source, "t", record))
        assert decision.outcome is Outcome.REVIEW
        outcomes = await asyncio.gather(
            accept_candidate(graph, source, "t", james.id, by="steward-a", why="payroll says James"),
            accept_candidate(graph, source, "t", john.id, by="steward-b", why="payroll says John"),
            return_exceptions=True,
        )
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], InvalidValue), outcomes
        linked = [p.id for p in (james, john) if await links_for_person(graph, p.id)]
        assert linked == [won[0].person_id]
        statuses = sorted(c.status for c in await candidates_for_identity(graph, source, "t"))
        assert statuses == ["ACCEPTED", "SUPERSEDED"]


async def test_racing_relinks_leave_exactly_one_link(graph: Graph, make_person: MakePerson) -> None:
    a = await make_person("Ann", born=date(1921, 3, 4))
    b = await make_person("Bea", born=date(1921, 3, 4))
    c = await make_person("Cat", born=date(1921, 3, 4))
    source = f"race-{uuid.uuid4().hex[:8]}"
    await link_identity(graph, a.id, source, "x", method="test", linked_by="test")
    outcomes = await asyncio.gather(
        relink_identity(graph, source, "x", b.id, by="steward-a", why="it is Bea"),
        relink_identity(graph, source, "x", c.id, by="steward-b", why="it is Cat"),
        return_exceptions=True,
    )
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes  # the later one moves it again
    owners = [p.id for p in (a, b, c) if await links_for_person(graph, p.id)]
    assert len(owners) == 1 and owners[0] in (b.id, c.id)


@pytest.mark.parametrize("reason", ["", " \n ", "x" * 2001])
def test_a_reason_is_required(reason: str) -> None:
    with pytest.raises(InvalidValue) as info:
        check_reason(reason)
    assert info.value.field == "reason"
