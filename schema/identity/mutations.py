"""A steward's decisions: accept, reject, unlink, relink — each with a reason, each on record.

The graph side (`graph.linkage.steward`) changes the links and writes the decision in one transaction.
Here: the caller is the steward named on the decision, the person's audit trail notes it, and unlink or
relink removes the source's cached records for the identity, with the purge consent withdrawal uses
(`Source.forget`): data fetched under a wrong link must not be served again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from connectors import MatchKey
from connectors.errors import CacheUnavailable
from graph.errors import InvalidValue, NotFound
from graph.identity import people_for_identities
from graph.linkage import steward
from graph.linkage.decision import Outcome
from graph.linkage.errors import LinkingUnavailable
from schema.context import Info
from schema.errors import HubError, InvalidInput, NotFoundError, user_error
from schema.identity.matching import link_fetched
from schema.identity.types import IdentityDecision, parse_candidate_id
from schema.people.queries import parse_person_id
from schema.people.types import Person

log = logging.getLogger(__name__)

IdentityDecisionResult = Annotated[
    IdentityDecision | NotFoundError | InvalidInput, strawberry.union("IdentityDecisionResult")
]
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
OUTCOMES = {Outcome.AUTO_LINK: "LINKED", Outcome.REVIEW: "QUEUED", Outcome.NO_LINK: "UNMATCHED"}


@strawberry.type(description="An external record fetched from its connector and matched with the model in use.")
class ExternalRecordMatch:
    source: str
    external_id: str
    outcome: str = strawberry.field(description="LINKED, ALREADY_LINKED, QUEUED (for a steward) or UNMATCHED.")
    method: str | None
    model_version: str | None
    reason: str
    queued: int = strawberry.field(description="Candidates sent to the review queue.")
    person_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The person the record is linked to, if it is.")
    async def person(self, info: Info) -> Person | None:
        if self.person_id is None:
            return None
        found = await info.context.loaders.person.load(self.person_id)
        return Person.from_model(found) if found is not None else None


MatchExternalRecordResult = Annotated[
    ExternalRecordMatch | NotFoundError | InvalidInput, strawberry.union("MatchExternalRecordResult")
]


def _steward(info: Info) -> str:
    principal = info.context.principal
    assert principal is not None  # the field policy admits no anonymous caller
    return principal.subject


async def _forget(info: Info, source: str, external_id: str, person_id: str | None) -> int:
    """Remove what the source's cache holds for this identity; how many records there were.

    The cache key is the one the connector fetches the person by: the external id, or the person's NINO.
    A source that is not a connector (an identity provider) has no cache: 0.
    """
    request = info.context.connectors
    if request is None or source not in request.registry:
        return 0
    connector = request.registry.get(source)
    keys: list[str] = []
    if connector.connector.match is MatchKey.EXTERNAL_ID:
        keys = [external_id]
    elif connector.connector.match is MatchKey.NINO and person_id is not None:
        found = await info.context.loaders.person.load(person_id)
        keys = [found.nino] if found is not None and found.nino else []
    return await connector.forget(keys) if keys else 0


def _audit(info: Info, decision: steward.StewardDecision, what: str) -> None:
    """Note the decision on each person's audit trail, and forget what this request loaded of their links."""
    for person_id in (decision.person_id, decision.previous_person_id):
        if person_id:
            info.context.reads[person_id].add(what)
    info.context.loaders.identity_links.clear_all()


CandidateDecision = Callable[..., Awaitable[steward.StewardDecision]]


async def _decide(
    info: Info, decide: CandidateDecision, candidate: str, reason: str, what: str
) -> IdentityDecisionResult | None:
    """Accept or reject one proposed pair, named by its candidate id."""
    try:
        source, external_id, person_id = parse_candidate_id(candidate)
        decision = await decide(info.context.graph, source, external_id, person_id, by=_steward(info), why=reason)
    except (InvalidValue, NotFound) as exc:
        return user_error(exc)  # type: ignore[return-value]
    _audit(info, decision, what)
    return IdentityDecision.from_model(decision)


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Fetch a connector's record for an id not linked yet and match it now: linked above the "
        "upper threshold, queued for review between the thresholds, left alone below (audited)."
    )
    async def match_external_record(
        self, info: Info, source: str, external_id: str
    ) -> MatchExternalRecordResult | None:
        request = info.context.connectors
        if request is None or source not in request.registry:
            return InvalidInput(message=f"no connector named {source!r}", code="BAD_USER_INPUT", field="source")
        if not _EXTERNAL_ID.match(external_id):
            return InvalidInput(
                message="1 to 200 printable characters, no spaces", code="BAD_USER_INPUT", field="externalId"
            )
        if info.context.linker is None:
            raise HubError("Identity linking is not set up in this hub", LinkingUnavailable.code)
        try:
            [fetched] = await link_fetched(info.context.linker, request.registry, source, [external_id])
        except LinkingUnavailable as exc:
            raise HubError(str(exc), exc.code) from None
        decision = fetched.decision
        if decision is None:
            if fetched.refused:
                return InvalidInput(message=fetched.problem or "", code="BAD_USER_INPUT", field="record")
            return NotFoundError(
                message=f"{source} has no record {external_id}: {fetched.problem}",
                code="NOT_FOUND",
                id=strawberry.ID(external_id),
            )
        for person_id in {decision.person_id, *(c.person_id for c in decision.candidates)}:
            if person_id:
                info.context.reads[person_id].add("matchExternalRecord")
        info.context.loaders.identity_links.clear_all()
        return ExternalRecordMatch(
            source=source,
            external_id=external_id,
            outcome="ALREADY_LINKED" if decision.existing else OUTCOMES[decision.outcome],
            method=decision.method if decision.outcome is Outcome.AUTO_LINK else None,
            model_version=decision.model_version,
            reason=decision.reason,
            queued=len(decision.candidates) if decision.outcome is Outcome.REVIEW else 0,
            person_id=decision.person_id,
        )

    @strawberry.mutation(description="Accept a proposed pair: the identity is linked to the person (audited).")
    async def accept_identity_candidate(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> IdentityDecisionResult | None:
        return await _decide(info, steward.accept_candidate, id, reason, "acceptIdentityCandidate")

    @strawberry.mutation(description="Reject a proposed pair for good: it is never proposed again (audited).")
    async def reject_identity_candidate(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> IdentityDecisionResult | None:
        return await _decide(info, steward.reject_candidate, id, reason, "rejectIdentityCandidate")

    @strawberry.mutation(
        description="Remove an identity's link: the source's cached data for it goes, the pair is never "
        "proposed again, the person keeps their id (audited)."
    )
    async def unlink_identity(
        self, info: Info, source: str, external_id: str, reason: str
    ) -> IdentityDecisionResult | None:
        try:
            steward.check_reason(reason)
            owner = await _owner(info, source, external_id)
            # Purged before the link goes, so a purge Redis cannot confirm leaves everything as it was.
            purged = await _forget(info, source, external_id, owner)
            decision = await steward.unlink_identity(
                info.context.graph, source, external_id, by=_steward(info), why=reason
            )
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        except CacheUnavailable:
            raise _cache_error(source) from None
        purged += await _forget_again(info, source, external_id, decision.person_id)
        _audit(info, decision, "unlinkIdentity")
        return IdentityDecision.from_model(decision, purged)

    @strawberry.mutation(
        description="Link an identity to another person (or to a person, if unlinked): the old pair is never "
        "proposed again and the source's cached data for it goes; no person id changes (audited)."
    )
    async def relink_identity(
        self, info: Info, source: str, external_id: str, person_id: strawberry.ID, reason: str
    ) -> IdentityDecisionResult | None:
        try:
            steward.check_reason(reason)
            target = parse_person_id(person_id, "personId")
            owner = await _owner(info, source, external_id)
            purged = await _forget(info, source, external_id, owner) if owner is not None else 0
            decision = await steward.relink_identity(
                info.context.graph, source, external_id, target, by=_steward(info), why=reason
            )
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        except CacheUnavailable:
            raise _cache_error(source) from None
        if decision.previous_person_id is not None:
            purged += await _forget_again(info, source, external_id, decision.previous_person_id)
        _audit(info, decision, "relinkIdentity")
        return IdentityDecision.from_model(decision, purged)


async def _owner(info: Info, source: str, external_id: str) -> str | None:
    [owner] = await people_for_identities(info.context.graph, source, [external_id])
    return owner


async def _forget_again(info: Info, source: str, external_id: str, person_id: str | None) -> int:
    """After the commit: whatever a concurrent fetch cached in between goes too (best effort, logged)."""
    try:
        return await _forget(info, source, external_id, person_id)
    except CacheUnavailable:
        log.warning("second cache purge after an identity decision failed for %s", source)
        return 0


def _cache_error(source: str) -> HubError:
    return HubError(
        "The source's cached data could not be removed, so nothing was changed: try again",
        "CACHE_UNAVAILABLE",
        connector=source,
    )
