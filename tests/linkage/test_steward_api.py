"""The steward's GraphQL API (contract with the console, issue 8): links and the review queue with their
explanations, and accept / reject / unlink / relink — each audited, against the real graph and cache.

Candidates are made the way production makes them: the real resolver, the trained model, the real graph.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from conftest import Gql, MakePerson, MintToken
from starlette.applications import Starlette

from bench.linkage import Trained
from connectors.kinds.social_profile import SocialProfile
from graph.audit import access_log
from graph.driver import Graph
from graph.linkage.decision import Outcome, Thresholds
from graph.linkage.links import candidates_for_identity, links_for_person
from graph.linkage.resolver import ExternalRecord, Resolver
from graph.models import Person
from hub.app import Resources, connect_redis
from hub.events import STREAM
from hub.settings import Settings
from schema.events import Event, EventKind
from schema.identity.types import candidate_id

# Thresholds no real pair reaches: every candidate worth a look goes to review.
REVIEW_ALL = Thresholds(auto_link_bits=1000, review_bits=11.4, margin=5)
# Thresholds every plausible pair passes: a clear match is linked automatically.
LINK_EASILY = Thresholds(auto_link_bits=12, review_bits=11.4, margin=5)

# `first` is written into the document: the cost limit counts a variable page size as the largest page (100).
QUEUE = """
query($source: String, $after: String) {
  identityReviewQueue(source: $source, first: FIRST, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor }
    nodes {
      id source externalId record probability matchWeight modelVersion proposedAt status reason
      comparisons { comparison level weight tfAdjustment externalValue personValue }
      person { id givenName familyName dateOfBirth }
    }
  }
}
"""
DECISION = """
  __typename
  ... on IdentityDecision {
    id action source externalId decidedBy reason decidedAt purgedRecords
    person { id } previousPerson { id }
    link { source externalId method confidence probability matchWeight modelVersion linkedAt linkedBy
           comparisons { comparison level weight } }
  }
  ... on InvalidInput { field message code }
  ... on NotFoundError { id message code }
"""
ACCEPT = (
    f"mutation($id: ID!, $reason: String!) {{ acceptIdentityCandidate(id: $id, reason: $reason) {{ {DECISION} }} }}"
)
REJECT = (
    f"mutation($id: ID!, $reason: String!) {{ rejectIdentityCandidate(id: $id, reason: $reason) {{ {DECISION} }} }}"
)
UNLINK = (
    "mutation($source: String!, $externalId: String!, $reason: String!) "
    f"{{ unlinkIdentity(source: $source, externalId: $externalId, reason: $reason) {{ {DECISION} }} }}"
)
RELINK = (
    "mutation($source: String!, $externalId: String!, $personId: ID!, $reason: String!) "
    "{ relinkIdentity(source: $source, externalId: $externalId, personId: $personId, reason: $reason) "
    f"{{ {DECISION} }} }}"
)
LINKS = """
query($id: ID!) { person(id: $id) { id links {
  source externalId method confidence probability matchWeight modelVersion linkedAt linkedBy
  comparisons { comparison level weight }
} } }
"""
HISTORY = """
query($source: String!, $externalId: String!) { identityDecisions(source: $source, externalId: $externalId) {
  action decidedBy reason person { id } previousPerson { id } link { method modelVersion probability }
} }
"""


def birthday() -> date:
    """A birth date for one test's people: others' people (same day, similar names) stay out of its candidates."""
    return date(1900, 1, 1) + timedelta(days=random.SystemRandom().randrange(40_000))


@pytest.fixture(scope="session")
def steward(token: MintToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token(['steward'], subject='steward-7')}", "x-purpose": "data-stewardship"}


@pytest.fixture
def source() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def fields_of(person: Person, **changes: Any) -> dict[str, Any]:
    assert person.date_of_birth is not None
    fields = {
        "givenName": person.given_name,
        "familyName": person.family_name,
        "dateOfBirth": person.date_of_birth.isoformat(),
    }
    return {k: v for k, v in {**fields, **changes}.items() if v is not None}


async def queued(graph: Graph, trained: Trained, source: str, external_id: str, person: Person, **changes: Any) -> str:
    """Put the external record in the review queue with the real resolver; the candidate's id."""
    resolver = Resolver(graph, trained.model, REVIEW_ALL, actor="test-linker")
    decision = await resolver.resolve(ExternalRecord(source, external_id, fields_of(person, **changes)))
    assert decision.outcome is Outcome.REVIEW, decision.reason
    assert person.id in {c.person_id for c in decision.candidates}
    return candidate_id(source, external_id, person.id)


async def auto_linked(graph: Graph, trained: Trained, source: str, external_id: str, person: Person) -> None:
    resolver = Resolver(graph, trained.model, LINK_EASILY, actor="test-linker")
    decision = await resolver.resolve(ExternalRecord(source, external_id, fields_of(person)))
    assert (decision.outcome, decision.person_id) == (Outcome.AUTO_LINK, person.id), decision.reason


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def queue(first: int = 50) -> str:
    return QUEUE.replace("FIRST", str(first))


async def queue_for(gql: Gql, steward: dict[str, str], source: str) -> list[dict[str, Any]]:
    body = await gql(queue(), {"source": source}, headers=steward)
    assert "errors" not in body, body
    nodes: list[dict[str, Any]] = body["data"]["identityReviewQueue"]["nodes"]
    return nodes


async def test_the_queue_shows_each_candidate_with_its_explanation(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    person = await make_person("Eleanor", born=birthday())
    assert person.date_of_birth is not None
    born = person.date_of_birth.isoformat()
    cid = await queued(graph, trained, source, "q1", person, givenName="Ellie")
    [stored] = await candidates_for_identity(graph, source, "q1")

    [node] = await queue_for(gql, steward, source)
    assert node["id"] == cid
    assert (node["source"], node["externalId"], node["status"]) == (source, "q1", "PENDING")
    assert node["probability"] == stored.probability and 0.5 <= node["probability"] < 1
    assert node["matchWeight"] == stored.match_weight
    assert node["modelVersion"] == trained.model.version
    assert node["record"]["givenName"] == "ELLIE" and node["record"]["dateOfBirth"] == born
    assert node["person"] == {
        "id": person.id,
        "givenName": "Eleanor",
        "familyName": person.family_name,
        "dateOfBirth": born,
    }
    assert "between" in node["reason"]
    bars = node["comparisons"]
    assert [b["comparison"] for b in bars] == [
        "prior",
        "given_name",
        "family_name",
        "date_of_birth",
        "postcode",
        "address_line",
    ]
    given = bars[1]
    assert (given["level"], given["externalValue"], given["personValue"]) == ("nickname", "ELLIE", "ELEANOR")
    # the waterfall adds up to the match weight: a steward sees exactly why
    assert sum(b["weight"] for b in bars) == pytest.approx(node["matchWeight"])
    assert datetime.fromisoformat(node["proposedAt"]) <= datetime.now(UTC)

    # reading the queue is a read of the person's data: it is on their audit trail
    [entries] = await access_log(graph, [person.id])
    assert any(e.actor == "steward-7" and "identityReviewQueue" in e.fields for e in entries)


async def test_the_queue_pages_with_cursors(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    people = [await make_person(given, born=date(1960 + i, 1 + i, 3)) for i, given in enumerate(("Anne", "Bea", "Cy"))]
    for i, p in enumerate(people):
        await queued(graph, trained, source, f"page-{i}", p, givenName=p.given_name[0] + ".")
    seen: list[str] = []
    after = None
    for _ in range(5):
        body = await gql(queue(2), {"source": source, "after": after}, headers=steward)
        page = body["data"]["identityReviewQueue"]
        seen += [n["externalId"] for n in page["nodes"]]
        assert [e["cursor"] for e in page["edges"]][-1:] == ([page["pageInfo"]["endCursor"]] if page["nodes"] else [])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["page-0", "page-1", "page-2"]


async def test_accepting_links_the_person_and_keeps_the_models_reasons(
    graph: Graph,
    gql: Gql,
    steward: dict[str, str],
    make_person: MakePerson,
    trained: Trained,
    source: str,
    settings: Settings,
) -> None:
    person = await make_person("Eleanor", born=birthday())
    cid = await queued(graph, trained, source, "a1", person, givenName="Ellie")
    [stored] = await candidates_for_identity(graph, source, "a1")

    body = await gql(ACCEPT, {"id": cid, "reason": "same person: Ellie is her usual name"}, headers=steward)
    assert "errors" not in body, body
    decision = body["data"]["acceptIdentityCandidate"]
    assert decision["__typename"] == "IdentityDecision", body
    assert (decision["action"], decision["decidedBy"], decision["reason"]) == (
        "ACCEPT",
        "steward-7",
        "same person: Ellie is her usual name",
    )
    assert decision["person"] == {"id": person.id} and decision["previousPerson"] is None
    link = decision["link"]
    assert (link["source"], link["externalId"], link["method"], link["linkedBy"]) == (
        source,
        "a1",
        "probabilistic:reviewed",
        "steward-7",
    )
    assert link["probability"] == stored.probability == link["confidence"]
    assert (link["matchWeight"], link["modelVersion"]) == (stored.match_weight, trained.model.version)
    assert sum(b["weight"] for b in link["comparisons"]) == pytest.approx(link["matchWeight"])

    # Person.links shows the same, the queue no longer holds it, and the decision is on record
    links = (await gql(LINKS, {"id": person.id}, headers=steward))["data"]["person"]
    assert links["id"] == person.id  # the hub person id never changes
    assert [(x["source"], x["externalId"], x["method"]) for x in links["links"]] == [
        (source, "a1", "probabilistic:reviewed")
    ]
    assert links["links"][0]["comparisons"] == link["comparisons"]
    assert await queue_for(gql, steward, source) == []
    history = (await gql(HISTORY, {"source": source, "externalId": "a1"}, headers=steward))["data"]
    assert history["identityDecisions"] == [
        {
            "action": "ACCEPT",
            "decidedBy": "steward-7",
            "reason": "same person: Ellie is her usual name",
            "person": {"id": person.id},
            "previousPerson": None,
            "link": {
                "method": "probabilistic:reviewed",
                "modelVersion": trained.model.version,
                "probability": stored.probability,
            },
        }
    ]
    [entries] = await access_log(graph, [person.id])
    assert any(e.actor == "steward-7" and "acceptIdentityCandidate" in e.fields for e in entries)

    again = (await gql(ACCEPT, {"id": cid, "reason": "twice"}, headers=steward))["data"]["acceptIdentityCandidate"]
    assert (again["__typename"], again["field"]) == ("InvalidInput", "id")
    assert "already decided" in again["message"]

    # The person's live events heard of the link once (the refused second accept published nothing).
    redis = connect_redis(settings)
    try:
        raw = await redis.xrange(f"{STREAM}person:{person.id}")
    finally:
        await redis.aclose()
    accepted = [e for e in (Event.decode(f[b"e"], "0-0") for _, f in raw) if e.kind is EventKind.LINK_ACCEPTED]
    assert [(e.data["connector"], e.data["method"]) for e in accepted] == [(source, "probabilistic:reviewed")]


async def test_a_rejected_pair_is_never_proposed_again(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    person = await make_person("Eleanor", born=birthday())
    cid = await queued(graph, trained, source, "r1", person, givenName="Ellie")
    body = await gql(REJECT, {"id": cid, "reason": "a different Ellie: checked by phone"}, headers=steward)
    decision = body["data"]["rejectIdentityCandidate"]
    assert (decision["__typename"], decision["action"], decision["link"]) == ("IdentityDecision", "REJECT", None)
    assert await queue_for(gql, steward, source) == []

    # the same record again, even one that now matches better: the rejected person is not proposed
    # (other people born that day, made by other tests, may be)
    for changes in ({"givenName": "Ellie"}, {}):
        for thresholds in (REVIEW_ALL, LINK_EASILY):
            resolver = Resolver(graph, trained.model, thresholds)
            again = await resolver.resolve(ExternalRecord(source, "r1", fields_of(person, **changes)))
            assert again.person_id != person.id and person.id not in {c.person_id for c in again.candidates}
    assert person.id not in {n["person"]["id"] for n in await queue_for(gql, steward, source)}
    assert await links_for_person(graph, person.id) == []
    statuses = {c.person_id: c.status for c in await candidates_for_identity(graph, source, "r1")}
    assert statuses[person.id] == "REJECTED"
    twice = (await gql(REJECT, {"id": cid, "reason": "again"}, headers=steward))["data"]["rejectIdentityCandidate"]
    assert twice["__typename"] == "InvalidInput"


async def test_accepting_one_twin_settles_the_other(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    born = birthday()
    james = await make_person("James", born=born)
    john = await make_person("John", born=born)
    resolver = Resolver(graph, trained.model, REVIEW_ALL)
    record = {"givenName": "J.", "familyName": james.family_name, "dateOfBirth": born.isoformat()}
    await resolver.resolve(ExternalRecord(source, "t1", record))
    nodes = await queue_for(gql, steward, source)
    assert {n["person"]["id"] for n in nodes} == {james.id, john.id}

    john_id = candidate_id(source, "t1", john.id)
    body = await gql(ACCEPT, {"id": john_id, "reason": "payroll says John"}, headers=steward)
    assert body["data"]["acceptIdentityCandidate"]["__typename"] == "IdentityDecision"
    assert await queue_for(gql, steward, source) == []
    statuses = {c.person_id: c.status for c in await candidates_for_identity(graph, source, "t1")}
    assert statuses == {john.id: "ACCEPTED", james.id: "SUPERSEDED"}
    late = await gql(ACCEPT, {"id": candidate_id(source, "t1", james.id), "reason": "no, James"}, headers=steward)
    assert late["data"]["acceptIdentityCandidate"]["__typename"] == "InvalidInput"
    assert [link.external_id for link in await links_for_person(graph, james.id)] == []


async def test_unlinking_removes_the_link_and_the_sources_cached_data(
    app: Starlette, graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained
) -> None:
    """On the `social` connector: its cached profile for the identity goes with the link."""
    resources: Resources = app.state.resources
    assert resources.connectors is not None and "social" in resources.connectors
    cache = resources.connectors.get("social").cache
    assert cache is not None
    person = await make_person("Margaret", born=birthday())
    external = f"u-{uuid.uuid4().hex[:10]}"
    await auto_linked(graph, trained, "social", external, person)
    [before] = await links_for_person(graph, person.id)
    await cache.put_many({external: SocialProfile(headline="Engineer", connections=3)}, datetime.now(UTC))
    assert external in await cache.get_many([external])

    body = await gql(UNLINK, {"source": "social", "externalId": external, "reason": "wrong Margaret"}, headers=steward)
    decision = body["data"]["unlinkIdentity"]
    assert decision["__typename"] == "IdentityDecision", body
    assert (decision["action"], decision["purgedRecords"], decision["person"]) == ("UNLINK", 1, {"id": person.id})
    assert decision["link"]["method"] == "probabilistic" and decision["link"]["modelVersion"] == before.model_version
    assert await cache.get_many([external]) == {}
    assert await links_for_person(graph, person.id) == []
    again = await gql(LINKS, {"id": person.id}, headers=steward)
    assert again["data"]["person"] == {"id": person.id, "links": []}

    # the unlinked pair counts as rejected: the same record is not linked back to her
    resolver = Resolver(graph, trained.model, LINK_EASILY)
    redo = await resolver.resolve(ExternalRecord("social", external, fields_of(person)))
    assert redo.person_id != person.id and person.id not in {c.person_id for c in redo.candidates}
    history = (await gql(HISTORY, {"source": "social", "externalId": external}, headers=steward))["data"]
    assert [d["action"] for d in history["identityDecisions"]] == ["UNLINK"]
    assert history["identityDecisions"][0]["link"]["probability"] == before.confidence

    gone = await gql(UNLINK, {"source": "social", "externalId": external, "reason": "again"}, headers=steward)
    assert (gone["data"]["unlinkIdentity"]["__typename"], gone["data"]["unlinkIdentity"]["field"]) == (
        "InvalidInput",
        "externalId",
    )


async def test_relinking_moves_the_identity_and_no_person_id_changes(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    wrong = await make_person("Robert", born=birthday())
    right = await make_person("Roberta", born=birthday())
    await auto_linked(graph, trained, source, "m1", wrong)

    body = await gql(
        RELINK,
        {"source": source, "externalId": "m1", "personId": right.id, "reason": "birth certificate checked"},
        headers=steward,
    )
    decision = body["data"]["relinkIdentity"]
    assert decision["__typename"] == "IdentityDecision", body
    assert (decision["action"], decision["person"], decision["previousPerson"]) == (
        "RELINK",
        {"id": right.id},
        {"id": wrong.id},
    )
    assert (decision["link"]["method"], decision["link"]["linkedBy"]) == ("steward:relinked", "steward-7")
    assert decision["purgedRecords"] == 0  # not a connector: nothing cached
    assert await links_for_person(graph, wrong.id) == []
    assert [link.external_id for link in await links_for_person(graph, right.id)] == ["m1"]
    for p in (wrong, right):
        found = (await gql(LINKS, {"id": p.id}, headers=steward))["data"]["person"]
        assert found["id"] == p.id

    # incoming again: it stays with the person the steward chose, and the old pair is not re-proposed
    resolver = Resolver(graph, trained.model, LINK_EASILY)
    again = await resolver.resolve(ExternalRecord(source, "m1", fields_of(wrong)))
    assert again.existing and again.person_id == right.id
    same = await gql(
        RELINK, {"source": source, "externalId": "m1", "personId": right.id, "reason": "again"}, headers=steward
    )
    assert (same["data"]["relinkIdentity"]["__typename"], same["data"]["relinkIdentity"]["field"]) == (
        "InvalidInput",
        "personId",
    )
    history = (await gql(HISTORY, {"source": source, "externalId": "m1"}, headers=steward))["data"]
    assert [(d["action"], d["previousPerson"]) for d in history["identityDecisions"]] == [("RELINK", {"id": wrong.id})]


async def test_relinking_an_identity_waiting_in_the_queue(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    proposed = await make_person("Eleanor", born=birthday())
    other = await make_person("Nell", born=proposed.date_of_birth)
    await queued(graph, trained, source, "w1", proposed, givenName="Ellie")
    body = await gql(
        RELINK, {"source": source, "externalId": "w1", "personId": other.id, "reason": "it is Nell"}, headers=steward
    )
    decision = body["data"]["relinkIdentity"]
    assert (decision["__typename"], decision["previousPerson"]) == ("IdentityDecision", None)
    assert await queue_for(gql, steward, source) == []
    assert [link.person_id for link in await links_for_person(graph, other.id)] == [other.id]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
async def test_a_decision_without_a_proper_reason_is_refused_and_changes_nothing(
    graph: Graph,
    gql: Gql,
    steward: dict[str, str],
    make_person: MakePerson,
    trained: Trained,
    source: str,
    reason: str,
) -> None:
    person = await make_person("Eleanor", born=birthday())
    cid = await queued(graph, trained, source, "why", person, givenName="Ellie")
    await auto_linked(graph, trained, source, "linked", person)
    other = await make_person("Nell", born=person.date_of_birth)
    attempts = [
        ("acceptIdentityCandidate", ACCEPT, {"id": cid}),
        ("rejectIdentityCandidate", REJECT, {"id": cid}),
        ("unlinkIdentity", UNLINK, {"source": source, "externalId": "linked"}),
        ("relinkIdentity", RELINK, {"source": source, "externalId": "linked", "personId": other.id}),
    ]
    for name, document, variables in attempts:
        body = await gql(document, {**variables, "reason": reason}, headers=steward)
        outcome = body["data"][name]
        assert (outcome["__typename"], outcome["field"]) == ("InvalidInput", "reason")
        assert outcome["code"] == "BAD_USER_INPUT"
    [candidate] = await candidates_for_identity(graph, source, "why")
    assert candidate.status == "PENDING"
    assert {link.external_id for link in await links_for_person(graph, person.id)} == {"linked"}
    history = (await gql(HISTORY, {"source": source, "externalId": "linked"}, headers=steward))["data"]
    assert history["identityDecisions"] == []


async def test_bad_ids_get_clear_errors(
    graph: Graph, gql: Gql, steward: dict[str, str], make_person: MakePerson, trained: Trained, source: str
) -> None:
    person = await make_person("Eleanor", born=birthday())
    await auto_linked(graph, trained, source, "linked", person)
    for bad in ("not-an-id", "", candidate_id("a", "b", "c")[:-3] + "!!!"):
        outcome = (await gql(ACCEPT, {"id": bad, "reason": "r"}, headers=steward))["data"]["acceptIdentityCandidate"]
        assert (outcome["__typename"], outcome["field"]) == ("InvalidInput", "id"), bad
    unknown = candidate_id(source, "nobody", str(uuid.uuid4()))
    for document, name in ((ACCEPT, "acceptIdentityCandidate"), (REJECT, "rejectIdentityCandidate")):
        outcome = (await gql(document, {"id": unknown, "reason": "r"}, headers=steward))["data"][name]
        assert outcome["__typename"] == "NotFoundError" and outcome["code"] == "NOT_FOUND"
    missing = await gql(UNLINK, {"source": source, "externalId": "never-seen", "reason": "r"}, headers=steward)
    assert missing["data"]["unlinkIdentity"]["__typename"] == "NotFoundError"
    for person_id, expected in (("not-a-uuid", "InvalidInput"), (str(uuid.uuid4()), "NotFoundError")):
        body = await gql(
            RELINK, {"source": source, "externalId": "linked", "personId": person_id, "reason": "r"}, headers=steward
        )
        assert body["data"]["relinkIdentity"]["__typename"] == expected
    assert [link.external_id for link in await links_for_person(graph, person.id)] == ["linked"]

    for first, after in ((0, None), (51, None), (5, "garbage")):
        body = await gql(queue(first), {"source": source, "after": after}, headers=steward)
        assert body["data"]["identityReviewQueue"] is None and codes(body) == ["BAD_USER_INPUT"], body


async def test_only_a_steward_for_data_stewardship_may_review_or_decide(
    graph: Graph,
    gql: Gql,
    token: MintToken,
    caseworker: dict[str, str],
    make_person: MakePerson,
    trained: Trained,
    source: str,
) -> None:
    person = await make_person("Eleanor", born=birthday())
    cid = await queued(graph, trained, source, "n1", person, givenName="Ellie")
    await auto_linked(graph, trained, source, "n2", person)
    wrong_purpose = {"authorization": f"Bearer {token(['steward'], subject='steward-9')}", "x-purpose": "audit"}
    auditor = {"authorization": f"Bearer {token(['auditor'], subject='auditor-1')}", "x-purpose": "audit"}
    citizen = {"authorization": f"Bearer {token(None, subject='someone')}"}
    # Principals the policy grants something else are refused field by field; one it grants nothing, at the door.
    for headers, status in ((caseworker, 200), (auditor, 200), (citizen, 200), (wrong_purpose, 403)):
        for document, variables in (
            (queue(), {"source": source}),
            (ACCEPT, {"id": cid}),
            (REJECT, {"id": cid}),
            (UNLINK, {"source": source, "externalId": "n2"}),
            (RELINK, {"source": source, "externalId": "n2", "personId": person.id}),
        ):
            body = await gql(document, {**variables, "reason": "let me"}, headers=headers, expect_status=status)
            assert codes(body) == ["FORBIDDEN"], body
    links = await gql(LINKS, {"id": person.id}, headers=caseworker)
    assert links["data"]["person"]["links"] is None and codes(links) == ["FORBIDDEN"]
    [candidate] = await candidates_for_identity(graph, source, "n1")
    assert candidate.status == "PENDING"
    assert [link.external_id for link in await links_for_person(graph, person.id)] == ["n2"]
