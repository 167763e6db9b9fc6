"""Real-time resolution against the real graph: decisions, what they persist, and what they refuse."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import MakePerson
from support import random_nino

from bench.linkage import Trained
from graph.driver import Graph
from graph.errors import InvalidValue
from graph.identity import people_for_identities
from graph.linkage.decision import Outcome, Thresholds
from graph.linkage.errors import InvalidRecord
from graph.linkage.links import (
    REJECTED,
    candidates_for_identity,
    links_for_person,
    review_queue,
)
from graph.linkage.resolver import ExternalRecord, Resolver
from graph.linkage.steward import Action, reject_candidate
from graph.models import Person
from hub.linkage import load_config

CONFIG = Path(__file__).resolve().parents[2] / "config" / "linkage.yaml"
# Thresholds no real pair reaches: every candidate worth a look goes to review (for the queue tests).
REVIEW_ALL = Thresholds(auto_link_bits=1000, review_bits=11.4, margin=5)


@pytest.fixture
def source() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def resolver(graph: Graph, trained: Trained) -> Resolver:
    return Resolver(graph, trained.model, load_config(CONFIG).thresholds, actor="test-linker")


def fields_of(person: Person, **changes: Any) -> dict[str, Any]:
    fields = {
        "givenName": person.given_name,
        "familyName": person.family_name,
        "dateOfBirth": person.date_of_birth.isoformat() if person.date_of_birth else None,
    }
    return {k: v for k, v in {**fields, **changes}.items() if v is not None}


async def nothing_written(graph: Graph, source: str, external_id: str) -> bool:
    [linked] = await people_for_identities(graph, source, [external_id])
    return linked is None and await candidates_for_identity(graph, source, external_id) == []


async def test_a_clear_match_is_linked_with_its_explanation(
    graph: Graph, resolver: Resolver, make_person: MakePerson, source: str, trained: Trained
) -> None:
    person = await make_person("Margaret", born=date(1961, 3, 14))
    decision = await resolver.resolve(ExternalRecord(source, "e1", fields_of(person, postcode="SW1A 1AA")))
    assert decision.outcome is Outcome.AUTO_LINK
    assert decision.person_id == person.id
    assert decision.method == "probabilistic"
    assert decision.model_version == trained.model.version

    [link] = await links_for_person(graph, person.id)
    assert (link.source, link.external_id, link.method, link.linked_by) == (
        source,
        "e1",
        "probabilistic",
        "test-linker",
    )
    assert link.model_version == trained.model.version
    [best] = decision.candidates
    assert link.confidence == best.score.match_probability
    assert link.match_weight == best.score.match_weight
    assert link.explanation is not None
    assert link.explanation["probability"] == best.score.match_probability
    waterfall = link.explanation["waterfall"]
    assert [w["comparison"] for w in waterfall] == [
        "prior",
        "given_name",
        "family_name",
        "date_of_birth",
        "postcode",
        "address_line",
    ]
    assert waterfall[1]["level"] == "exact" and waterfall[4]["level"] == "null"  # the person has no address
    assert sum(w["weight"] + w.get("tfAdjustment", 0.0) for w in waterfall) == pytest.approx(best.score.match_weight)

    again = await resolver.resolve(ExternalRecord(source, "e1", fields_of(person)))
    assert again.existing and again.person_id == person.id
    assert len(await links_for_person(graph, person.id)) == 1


async def test_a_nickname_and_a_typo_still_find_the_person(
    graph: Graph, resolver: Resolver, make_person: MakePerson, source: str
) -> None:
    person = await make_person("Robert", born=date(1958, 11, 2))
    decision = await resolver.resolve(
        ExternalRecord(source, "e2", fields_of(person, givenName="Bob", familyName=person.family_name.upper()))
    )
    assert decision.outcome is Outcome.AUTO_LINK and decision.person_id == person.id
    [link] = await links_for_person(graph, person.id)
    assert link.explanation is not None and link.explanation["waterfall"][1]["level"] == "nickname"


async def test_a_middling_score_is_queued_for_review_and_a_rejection_is_final(
    graph: Graph, trained: Trained, make_person: MakePerson, source: str
) -> None:
    person = await make_person("Eleanor", born=date(1977, 8, 21))
    resolver = Resolver(graph, trained.model, REVIEW_ALL, actor="test-linker")
    record = ExternalRecord(source, "e3", fields_of(person, givenName="Ellie"))
    decision = await resolver.resolve(record)
    assert decision.outcome is Outcome.REVIEW
    assert [c.person_id for c in decision.candidates] == [person.id]
    assert await links_for_person(graph, person.id) == []

    [candidate] = await candidates_for_identity(graph, source, "e3")
    assert (candidate.person_id, candidate.status, candidate.model_version) == (
        person.id,
        "PENDING",
        trained.model.version,
    )
    assert candidate.probability == decision.candidates[0].score.match_probability
    assert candidate.explanation["outcome"] == "REVIEW"
    assert candidate.explanation["waterfall"][1]["level"] == "nickname"
    assert candidate.external_record == {
        "givenName": "ELLIE",
        "familyName": person.family_name.upper(),
        "dateOfBirth": "1977-08-21",
        "postcode": None,
        "addressLine": None,
    }
    queued = [c for c in await review_queue(graph, limit=10_000) if (c.source, c.external_id) == (source, "e3")]
    assert [c.person_id for c in queued] == [person.id]

    # proposing again changes nothing; rejecting takes it out of the queue for good
    await resolver.resolve(record)
    assert len(await candidates_for_identity(graph, source, "e3")) == 1
    decided = await reject_candidate(graph, source, "e3", person.id, by="steward-1", why="different person")
    assert (decided.action, decided.decided_by, decided.reason) == (Action.REJECT, "steward-1", "different person")
    with pytest.raises(InvalidValue, match="already decided"):
        await reject_candidate(graph, source, "e3", person.id, by="steward-1", why="twice")
    again = await resolver.resolve(record)
    assert again.outcome is Outcome.NO_LINK
    [rejected] = await candidates_for_identity(graph, source, "e3")
    assert rejected.status == REJECTED
    assert not [c for c in await review_queue(graph, limit=10_000) if (c.source, c.external_id) == (source, "e3")]


async def test_twins_the_record_cannot_tell_apart_go_to_a_person(
    graph: Graph, resolver: Resolver, make_person: MakePerson, family: str, source: str
) -> None:
    born = date(1990, 6, 9)
    james = await make_person("James", born=born)
    john = await make_person("John", born=born)
    decision = await resolver.resolve(
        ExternalRecord(source, "e4", {"givenName": "J.", "familyName": family, "dateOfBirth": "1990-06-09"})
    )
    assert decision.outcome is Outcome.REVIEW
    assert {c.person_id for c in decision.candidates} == {james.id, john.id}
    assert "bits ahead" in decision.reason or "between" in decision.reason
    assert {c.person_id for c in await candidates_for_identity(graph, source, "e4")} == {james.id, john.id}
    assert await links_for_person(graph, james.id) == [] and await links_for_person(graph, john.id) == []


async def test_no_candidate_means_no_link_and_nothing_written(
    graph: Graph, resolver: Resolver, family: str, source: str
) -> None:
    decision = await resolver.resolve(
        ExternalRecord(source, "e5", {"givenName": "Nobody", "familyName": family, "dateOfBirth": "1901-01-01"})
    )
    assert decision.outcome is Outcome.NO_LINK and decision.person_id is None
    assert await nothing_written(graph, source, "e5")


async def test_when_blocking_hits_its_limit_a_person_decides(
    graph: Graph, trained: Trained, make_person: MakePerson, family: str, source: str
) -> None:
    born = date(1934, 2, 19)
    people = [await make_person(given, born=born) for given in ("Walter", "Agnes", "Cyril")]
    resolver = Resolver(graph, trained.model, load_config(CONFIG).thresholds, max_candidates=1)
    decision = await resolver.resolve(ExternalRecord(source, "e8", fields_of(people[0])), persist=False)
    assert decision.details.get("truncated") is True
    assert decision.outcome is not Outcome.AUTO_LINK and decision.person_id is None
    assert "blocking stopped at 1 candidates" in decision.reason


@pytest.mark.parametrize(
    ("external_id", "fields", "verified", "field"),
    [
        ("e6", {"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-30"}, {}, "dateOfBirth"),
        ("e6", {"givenName": "Ann", "dateOfBirth": "1980-02-03"}, {}, "familyName"),
        ("e6", {"givenName": "<script>", "familyName": "Lee", "postcode": "SW1A 1AA"}, {}, "givenName"),
        ("e6", {"givenName": "Ann", "familyName": "Lee", "postcode": 12345}, {}, "postcode"),
        ("e6", {"givenName": "Ann", "familyName": "Lee"}, {}, "record"),
        ("", {"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"}, {}, "externalId"),
        (
            "e6",
            {"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"},
            {"nino": "nope"},
            "verified.nino",
        ),
        (
            "e6",
            {"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"},
            {"email": "a@b"},
            "verified.email",
        ),
    ],
)
async def test_a_malformed_record_is_refused_and_creates_nothing(
    graph: Graph,
    resolver: Resolver,
    source: str,
    external_id: str,
    fields: dict[str, Any],
    verified: dict[str, str],
    field: str,
) -> None:
    with pytest.raises(InvalidRecord) as info:
        await resolver.resolve(ExternalRecord(source, external_id, fields, verified))
    assert field in {f for f, _ in info.value.problems}
    assert await nothing_written(graph, source, external_id or "e6")


async def test_a_verified_nino_links_without_scoring(
    graph: Graph, resolver: Resolver, make_person: MakePerson, source: str
) -> None:
    nino = random_nino()
    person = await make_person("Grace", nino=nino)
    spaced = f"{nino[:2].lower()} {nino[2:4]} {nino[4:6]} {nino[6:8]} {nino[8]}"
    fields = {"givenName": "Someone", "familyName": "Else", "postcode": "SW1A 1AA"}  # the identifier decides
    decision = await resolver.resolve(ExternalRecord(source, "e7", fields, {"nino": spaced}))
    assert (decision.outcome, decision.method, decision.person_id) == (
        Outcome.AUTO_LINK,
        "deterministic:nino",
        person.id,
    )
    [link] = await links_for_person(graph, person.id)
    assert (link.method, link.confidence, link.model_version) == ("deterministic:nino", 1.0, None)


# --- the hard cases of a register, through the real path ---------------------------------------------


async def decide_all(resolver: Resolver, trained: Trained, kinds: set[str]) -> list[tuple[Any, Any]]:
    source = f"test-hard-{uuid.uuid4().hex[:8]}"
    out = []
    for case in trained.labelled.external:
        if case.kind in kinds:
            decision = await resolver.resolve(ExternalRecord(source, case.external_id, case.fields), persist=False)
            out.append((case, decision))
    return out


@pytest.mark.parametrize("kind", ["twin", "father_son", "common_name"])
async def test_hard_cases_are_never_linked_automatically_to_the_wrong_person(
    register: Trained, resolver: Resolver, kind: str
) -> None:
    """Twins (same family name, birth date, address), a father and son with one name at one address,
    two unrelated people with a common name in one postcode: a record of one is never linked to the other."""
    results = await decide_all(resolver, register, {kind})
    assert len(results) >= 40
    wrong = [
        (c.external_id, c.corruptions)
        for c, d in results
        if d.outcome is Outcome.AUTO_LINK and d.person_id in c.confusable
    ]
    assert wrong == []
    right = sum(1 for c, d in results if d.outcome is Outcome.AUTO_LINK and d.person_id == c.person_id)
    assert right >= len(results) * 0.6  # mostly the record does say which one it is


async def test_a_son_without_a_birth_date_is_for_a_person_to_decide(register: Trained, resolver: Resolver) -> None:
    case = next(c for c in register.labelled.external if c.kind == "father_son" and not c.corruptions)
    fields = {k: v for k, v in case.fields.items() if k != "dateOfBirth"}
    fields.setdefault("postcode", next(p.postcode for p in register.labelled.core if p.id == case.person_id))
    decision = await resolver.resolve(ExternalRecord("test-hard", case.external_id, fields), persist=False)
    assert decision.outcome is Outcome.REVIEW
    assert {c.person_id for c in decision.candidates} >= {case.person_id, *case.confusable}


async def test_automatic_links_on_the_labelled_set_are_precise(register: Trained, resolver: Resolver) -> None:
    results = await decide_all(resolver, register, {"copy", "unmatched", "twin", "father_son", "common_name"})
    auto = [(c, d) for c, d in results if d.outcome is Outcome.AUTO_LINK]
    wrong = [(c.external_id, c.kind, c.corruptions, d.person_id) for c, d in auto if d.person_id != c.person_id]
    assert len(auto) > len(results) * 0.8
    assert len(wrong) <= len(auto) * 0.001, wrong
