"""The steward's view of connectors: live health, on/off for every replica, a test fetch, field provenance.

The contract agreed with the steward console (issue 8): `connectors`, `setConnectorEnabled`, `testConnector`
and `Person.provenance`. Health figures are this replica's (its breaker, its recent calls); the on/off switch
is shared by every replica (`connectors.switches`) and each change is recorded in the graph with who made it
and why (`graph.connector_decisions`) before it takes effect.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from connectors.source import Source
from connectors.switches import SwitchesUnavailable
from graph import connector_decisions as decisions_repo
from graph import person as person_repo
from graph.consent import active_consents
from graph.errors import InvalidValue
from schema.connectors.fields import field_name
from schema.connectors.loaders import ConnectorRequest, HeldField
from schema.connectors.types import ConnectorProvenance
from schema.context import Info
from schema.errors import HubError, InvalidInput, NotFoundError
from schema.people.queries import parse_person_id

__all__ = [
    "BreakerState",
    "ConnectorStatus",
    "FieldProvenance",
    "StewardMutation",
    "StewardQuery",
    "resolve_provenance",
]

MAX_REASON = 500


@strawberry.enum(description="A connector's circuit breaker on this replica.")
class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@strawberry.type(description="A steward's decision to switch a connector on or off: who, when and why.")
class ConnectorDecision:
    action: str
    at: datetime
    actor: str
    actor_role: str
    purpose: str | None
    reason: str | None

    @classmethod
    def of(cls, d: decisions_repo.ConnectorDecision) -> ConnectorDecision:
        return cls(action=d.action, at=d.at, actor=d.actor, actor_role=d.actor_role, purpose=d.purpose, reason=d.reason)


@strawberry.type(description="A connector's declaration and its live health on the replica that answers.")
class ConnectorStatus:
    name: str
    kind: str
    description: str | None
    owner: str | None
    purpose: str | None
    lawful_basis: str
    consent_required: bool
    match: str
    person_field: str = strawberry.field(description="Where its record shows on Person, e.g. socialProfile.")
    fields: list[str] = strawberry.field(description="The record's fields, as declared.")
    enabled: bool = strawberry.field(description="On or off for every replica (a steward's switch, else its YAML).")
    blocked: str | None = strawberry.field(description="Why it cannot be switched on (e.g. its secrets are unset).")
    changed_by: str | None = strawberry.field(description="Who last switched it at run time.")
    changed_at: datetime | None
    change_reason: str | None
    breaker_state: BreakerState
    latency_p50_ms: float | None = strawberry.field(description="Upstream attempts, recent window.")
    latency_p99_ms: float | None
    error_rate: float | None = strawberry.field(description="0..1: failed share of recent upstream calls.")
    cache_hit_rate: float | None = strawberry.field(description="0..1: cache lookups answered fresh.")
    last_success_at: datetime | None
    last_error: str | None
    calls: int = strawberry.field(description="Fetches asked of it since this replica started.")
    upstream_calls: int
    coalesced: int = strawberry.field(description="Keys that joined a load already in flight.")

    @strawberry.field(description="The latest run-time decisions about this connector, newest first.")
    async def decisions(self, info: Info, limit: int = 10) -> list[ConnectorDecision]:
        limit = max(1, min(limit, 100))
        [found] = await decisions_repo.decisions_for(info.context.graph, [self.name], limit)
        return [ConnectorDecision.of(d) for d in found]

    @classmethod
    def of(cls, source: Source) -> ConnectorStatus:
        info = source.connector.describe()
        stats = source.snapshot()
        switch = source.switch
        return cls(
            name=source.name,
            kind=info.kind,
            description=info.description,
            owner=info.owner,
            purpose=info.purpose,
            lawful_basis=info.lawful_basis.value,
            consent_required=info.consent_required,
            match=info.match.value,
            person_field=field_name(source.config, type(source.connector)),
            fields=list(info.fields),
            enabled=source.enabled,
            blocked=source.blocked,
            changed_by=switch.changed_by if switch else None,
            changed_at=switch.changed_at if switch else None,
            change_reason=switch.reason if switch else None,
            breaker_state=BreakerState(stats.breaker_state),
            latency_p50_ms=stats.latency_ms["p50"],
            latency_p99_ms=stats.latency_ms["p99"],
            error_rate=stats.error_rate,
            cache_hit_rate=stats.cache_hit_rate,
            last_success_at=stats.last_success_at,
            last_error=stats.last_error,
            calls=stats.calls,
            upstream_calls=stats.upstream_calls,
            coalesced=stats.coalesced,
        )


@strawberry.type(description="Where one connector-sourced fact about a person came from (what the hub holds).")
class FieldProvenance:
    connector: str
    field: str = strawberry.field(description="The record's field, e.g. currentEmployer.")
    path: str = strawberry.field(description="Where it shows on Person, e.g. socialProfile.currentEmployer.")
    fetched_at: datetime = strawberry.field(description="When the upstream produced the value (UTC).")
    stale: bool = strawberry.field(description="Past its freshness TTL.")
    cached: bool
    match_confidence: float | None


@strawberry.type(description="A live test fetch for one person succeeded (the record is audited as read).")
class ConnectorTestSuccess:
    connector: str
    latency_ms: float
    record: JSON | None = strawberry.field(description="The record as the connector declares it; null: none exists.")
    provenance: ConnectorProvenance | None


@strawberry.type(description="A test fetch failed; `code` is the one a query would carry (CONNECTOR_TIMEOUT, …).")
class ConnectorTestFailure:
    connector: str
    code: str
    message: str
    latency_ms: float | None = None


SetConnectorEnabledResult = Annotated[
    ConnectorStatus | NotFoundError | InvalidInput, strawberry.union("SetConnectorEnabledResult")
]
ConnectorTestResult = Annotated[
    ConnectorTestSuccess | ConnectorTestFailure | NotFoundError | InvalidInput,
    strawberry.union("ConnectorTestResult"),
]


def _request(info: Info) -> ConnectorRequest | None:
    return info.context.connectors


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@strawberry.type
class StewardQuery:
    @strawberry.field(description="Every configured connector with its live health (this replica's view).")
    async def connectors(self, info: Info) -> list[ConnectorStatus] | None:
        request = _request(info)
        if request is None:
            return []
        out = []
        for source in request.registry:
            await source.is_enabled()  # read the shared switch: the answer is every replica's state
            out.append(ConnectorStatus.of(source))
        return out


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(message=f"no connector named {name!r}", code="NOT_FOUND", id=strawberry.ID(name))


@strawberry.type
class StewardMutation:
    @strawberry.mutation(
        description="Switch a connector on or off on every replica; its fields answer CONNECTOR_DISABLED while off. "
        "Recorded with who and why."
    )
    async def set_connector_enabled(
        self, info: Info, name: str, enabled: bool, reason: str | None = None
    ) -> SetConnectorEnabledResult | None:
        request = _request(info)
        if request is None or name not in request.registry:
            return _not_found(name)
        if reason is not None and len(reason) > MAX_REASON:
            return InvalidInput(message=f"at most {MAX_REASON} characters", code="BAD_USER_INPUT", field="reason")
        principal = info.context.principal
        assert principal is not None  # the policy admits no anonymous caller
        source = request.registry.get(name)
        # The record first: a switch that moved without one would be a change nobody can account for.
        await decisions_repo.record_decision(
            info.context.graph,
            name,
            enabled=enabled,
            actor=principal.subject,
            actor_role=",".join(sorted(principal.roles)),
            purpose=principal.purpose,
            reason=reason.strip() if reason else None,
            request_id=info.context.request_id,
        )
        try:
            await source.set_enabled(enabled, by=principal.subject, reason=reason)
        except SwitchesUnavailable:
            raise HubError(
                "The switch could not be stored (the cache is unavailable); nothing changed: try again",
                "CACHE_UNAVAILABLE",
                connector=name,
            ) from None
        return ConnectorStatus.of(source)

    @strawberry.mutation(
        description="A live fetch from the connector for one person, past the cache, as a query would make it "
        "(consent and identity links apply). The record read is audited."
    )
    async def test_connector(self, info: Info, name: str, person_id: strawberry.ID) -> ConnectorTestResult | None:
        request = _request(info)
        if request is None or name not in request.registry:
            return _not_found(name)
        try:
            pid = parse_person_id(person_id, "personId")
        except InvalidValue as exc:
            return InvalidInput(message=str(exc), code=exc.code, field="personId")
        [person] = await person_repo.get_people(info.context.graph, [pid])
        if person is None:
            return NotFoundError(message=f"Person {pid} not found", code="NOT_FOUND", id=strawberry.ID(pid))
        source = request.registry.get(name)

        def failed(code: str, message: str, latency: float | None = None) -> ConnectorTestFailure:
            return ConnectorTestFailure(connector=name, code=code, message=message, latency_ms=latency)

        if not await source.is_enabled():
            return failed("CONNECTOR_DISABLED", f"connector {name} is disabled")
        config = source.config
        if config.consent_required:
            [consented] = await active_consents(info.context.graph, [pid], name, config.purpose)
            if not consented:
                return failed("CONSENT_REQUIRED", f"no active consent for {name} ({config.purpose})")
        found = await request.keys_for(source, (pid, person.nino))
        if found is None:
            return failed("NOT_LINKED", f"the person has no {source.connector.match.value} for {name}")
        key, confidence = found
        result, elapsed = await source.probe(key)
        latency_ms = round(elapsed * 1000, 3)
        if result.error is not None:
            return failed(result.error.code.value, result.error.message, latency_ms)
        # Personal data leaves in the answer: the steward's read is audited on the person.
        info.context.reads[pid].add(f"testConnector:{name}")
        return ConnectorTestSuccess(
            connector=name,
            latency_ms=latency_ms,
            record=result.value.model_dump(mode="json") if result.value is not None else None,
            provenance=ConnectorProvenance.of(result.provenance, confidence) if result.provenance else None,
        )


async def resolve_provenance(root: Any, info: Info, paths: dict[str, str]) -> list[FieldProvenance] | None:
    """Person.provenance: one entry per connector field the hub holds about the person now."""
    request = _request(info)
    if request is None:
        return []
    held: list[HeldField] = await request.held.load((str(root.id), root.nino))
    return [
        FieldProvenance(
            connector=h.connector,
            field=_camel(h.field),
            path=f"{paths.get(h.connector, h.connector)}.{_camel(h.field)}",
            fetched_at=h.fetched_at,
            stale=h.stale,
            cached=h.cached,
            match_confidence=h.confidence,
        )
        for h in held
    ]
