"""grantConsent / revokeConsent (a citizen, on their own record) and linkIdentity (a steward).

Results are unions of a success type and typed errors. Revoking consent stops upstream calls at once (the
connector loaders check consent before every fetch) and purges the person's cached records for that
connector; a purge Redis cannot confirm is an error, so the citizen knows to try again.
"""

from __future__ import annotations

import re
from typing import Annotated

import strawberry

from connectors import MatchKey
from connectors.errors import CacheUnavailable
from graph import consent as consent_repo
from graph import person as person_repo
from graph.errors import IdentityTaken, InvalidValue, NotFound
from graph.identity import identities_for_people, link_exclusive
from schema.connectors.types import ConsentRecord
from schema.context import Info
from schema.errors import HubError, InvalidInput, NotFoundError, UserError, user_error
from schema.people.queries import parse_person_id
from schema.people.types import Person

_SOURCE = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e]{1,256}$")


@strawberry.type
class IdentityTakenError(UserError):
    source: str


@strawberry.type(description="Consents revoked, and how many cached records of the person were purged.")
class ConsentRevoked:
    connector: str
    revoked: list[ConsentRecord]
    purged_records: int


@strawberry.type
class IdentityLinked:
    person: Person
    source: str
    external_id: str
    created: bool = strawberry.field(description="False when the link already existed.")


GrantConsentResult = Annotated[ConsentRecord | InvalidInput | NotFoundError, strawberry.union("GrantConsentResult")]
RevokeConsentResult = Annotated[ConsentRevoked | InvalidInput | NotFoundError, strawberry.union("RevokeConsentResult")]
LinkIdentityResult = Annotated[
    IdentityLinked | InvalidInput | NotFoundError | IdentityTakenError, strawberry.union("LinkIdentityResult")
]


@strawberry.input(description="A deterministic link, made by a steward on a verified identifier.")
class LinkIdentityInput:
    person_id: strawberry.ID
    source: str = strawberry.field(description="The connector (or identity provider) the id belongs to.")
    external_id: str
    method: str = "steward-verified"
    confidence: float = 1.0


def _own_person(info: Info) -> str:
    principal = info.context.principal
    if principal is None or principal.person_id is None:
        raise HubError("Only a signed-in citizen can change their own consents", "FORBIDDEN")
    return principal.person_id


def _connector_or_error(info: Info, connector: str) -> InvalidInput | None:
    request = info.context.connectors
    if request is None or connector not in request.registry:
        return InvalidInput(message=f"no connector named {connector!r}", code="BAD_USER_INPUT", field="connector")
    return None


@strawberry.type
class ConnectorMutation:
    @strawberry.mutation(description="Consent to a connector being read about you, for its declared purpose.")
    async def grant_consent(self, info: Info, connector: str, purpose: str) -> GrantConsentResult | None:
        person_id = _own_person(info)
        problem = _connector_or_error(info, connector)
        if problem is not None:
            return problem
        assert info.context.connectors is not None
        declared = info.context.connectors.registry.get(connector).config.purpose
        if purpose != declared:
            return InvalidInput(
                message=f"{connector} is read only for the purpose {declared!r}", code="BAD_USER_INPUT", field="purpose"
            )
        try:
            granted = await consent_repo.grant_consent(info.context.graph, person_id, connector, purpose)
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        info.context.loaders.consents.clear_all()
        return ConsentRecord.from_model(granted)

    @strawberry.mutation(description="Withdraw consent: the connector is no longer called and its cached data goes.")
    async def revoke_consent(self, info: Info, connector: str) -> RevokeConsentResult | None:
        person_id = _own_person(info)
        problem = _connector_or_error(info, connector)
        if problem is not None:
            return problem
        request = info.context.connectors
        assert request is not None
        graph = info.context.graph
        try:
            revoked = await consent_repo.revoke_consent(graph, person_id, connector)
        except NotFound as exc:
            return user_error(exc)  # type: ignore[return-value]
        info.context.loaders.consents.clear_all()
        source = request.registry.get(connector)
        keys: list[str] = []
        if source.connector.match is MatchKey.NINO:
            [found] = await person_repo.get_people(graph, [person_id])
            keys = [found.nino] if found is not None and found.nino else []
        elif source.connector.match is MatchKey.EXTERNAL_ID:
            [links] = await identities_for_people(graph, [person_id], connector)
            keys = [external for external, _, _ in links]
        try:
            purged = await source.forget(keys) if keys else 0
        except CacheUnavailable:
            raise HubError(
                "Consent is withdrawn and the source is no longer called, but cached data could not be removed "
                "yet: try again",
                "CACHE_UNAVAILABLE",
                connector=connector,
            ) from None
        return ConsentRevoked(
            connector=connector, revoked=[ConsentRecord.from_model(c) for c in revoked], purged_records=purged
        )

    @strawberry.mutation(description="Link a person to their id at a source (deterministic, verified by a steward).")
    async def link_identity(self, info: Info, input: LinkIdentityInput) -> LinkIdentityResult | None:
        principal = info.context.principal
        assert principal is not None  # the field policy admits no anonymous caller
        if not _SOURCE.match(input.source):
            return InvalidInput(message="not a source name", code="BAD_USER_INPUT", field="source")
        if not _EXTERNAL_ID.match(input.external_id):
            return InvalidInput(
                message="1 to 256 printable characters, no spaces", code="BAD_USER_INPUT", field="externalId"
            )
        if not 0.0 < input.confidence <= 1.0:
            return InvalidInput(message="must be in (0, 1]", code="BAD_USER_INPUT", field="confidence")
        try:
            person_id = parse_person_id(input.person_id, "personId")
            created = await link_exclusive(
                info.context.graph,
                person_id,
                input.source,
                input.external_id,
                method=input.method,
                linked_by=principal.subject,
                confidence=input.confidence,
            )
            [found] = await person_repo.get_people(info.context.graph, [person_id])
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        except IdentityTaken as exc:
            return IdentityTakenError(message=str(exc), code=exc.code, source=exc.source)
        if found is None:
            return NotFoundError(message=f"Person {person_id} not found", code="NOT_FOUND", id=strawberry.ID(person_id))
        # The audit trail records the change beside the reads: who linked which identity to the person.
        info.context.reads[person_id].add("linkIdentity")
        return IdentityLinked(
            person=Person.from_model(found), source=input.source, external_id=input.external_id, created=created
        )
