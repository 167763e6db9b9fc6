"""GraphQL types of connector data: provenance, the social profile, records generated from declared fields,
and consents.

A declarative connector's record type is built at schema build time from the fields its YAML declares
(`rest` kind: `settings.fields`; a code kind: its `fields` model), so a source added as YAML alone shows up
as a typed field on Person without code.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from typing import Any

import strawberry
from pydantic import BaseModel
from strawberry.experimental.pydantic import type as pydantic_type

from connectors import Provenance
from connectors.kinds.earnings_feed import EarningsFeed, PayPeriod
from connectors.kinds.payments_feed import MaintenancePaymentMade, PaymentsFeed
from graph import consent as consent_repo

__all__ = [
    "ConnectorProvenance",
    "ConsentRecord",
    "EarningsFeedType",
    "PaymentsFeedType",
    "SocialProfile",
    "record_type",
    "type_name",
]

_SCALARS: dict[Any, Any] = {str: str, int: int, float: float, bool: bool, date: date, datetime: datetime}


@strawberry.type(description="Where a connector-sourced value came from.")
class ConnectorProvenance:
    connector: str
    fetched_at: datetime = strawberry.field(description="When the upstream produced the value (UTC).")
    stale: bool = strawberry.field(description="Past its freshness TTL: served because the source failed.")
    cached: bool
    match_confidence: float | None = strawberry.field(
        description="Confidence of the identity link the record was matched by (1.0: deterministic)."
    )

    @classmethod
    def of(cls, p: Provenance, confidence: float | None) -> ConnectorProvenance:
        return cls(
            connector=p.connector, fetched_at=p.fetched_at, stale=p.stale, cached=p.cached, match_confidence=confidence
        )


@strawberry.type(description="A professional-network profile the person connected to their record.")
class SocialProfile:
    headline: str | None
    current_employer: str | None
    location: str | None
    connections: int | None
    last_active: datetime | None
    provenance: ConnectorProvenance


# Code kinds with nested records: GraphQL types generated from their pydantic models, plus provenance.
@pydantic_type(
    model=MaintenancePaymentMade,
    all_fields=True,
    name="PaymentsFeedPayment",
    description="A booked payment from the parent's account to the maintenance service (integer pence).",
)
class PaymentsFeedPaymentType:
    pass


@pydantic_type(
    model=PaymentsFeed,
    all_fields=True,
    name="PaymentsFeed",
    description="Maintenance payments seen on a paying parent's bank account over the lookback window.",
)
class PaymentsFeedType:
    provenance: ConnectorProvenance


@pydantic_type(
    model=PayPeriod,
    all_fields=True,
    name="PayPeriod",
    description="One pay period at one employer: gross pay in pence.",
)
class PayPeriodType:
    pass


@pydantic_type(
    model=EarningsFeed,
    all_fields=True,
    name="EarningsFeed",
    description="Recent pay periods reported by employers, newest first.",
)
class EarningsFeedType:
    provenance: ConnectorProvenance


@strawberry.type(name="Consent", description="A person's consent for one connector to be read for one purpose.")
class ConsentRecord:
    id: strawberry.ID
    connector: str
    purpose: str
    granted_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    active: bool

    @classmethod
    def from_model(cls, c: consent_repo.Consent) -> ConsentRecord:
        return cls(
            id=strawberry.ID(c.id),
            connector=c.connector,
            purpose=c.purpose,
            granted_at=c.granted_at,
            revoked_at=c.revoked_at,
            expires_at=c.expires_at,
            active=c.active(),
        )


def type_name(connector: str) -> str:
    """``partner_benefits`` -> ``PartnerBenefitsRecord``."""
    return "".join(part.capitalize() for part in connector.split("_")) + "Record"


def _scalar(annotation: Any) -> Any:
    """The GraphQL-able scalar of a pydantic field annotation (``X`` or ``X | None``), or None."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in _SCALARS:
            return _SCALARS[args[0]]
    return None


def record_type(connector: str, fields: type[BaseModel], description: str) -> type:
    """A Strawberry type with the connector's declared fields (all nullable) plus `provenance`.

    Every field is nullable in GraphQL: a required upstream field is still absent when the whole value is.
    Raises ValueError naming a field whose type has no GraphQL scalar.
    """
    annotations: dict[str, Any] = {}
    for name, info in fields.model_fields.items():
        scalar = _scalar(info.annotation)
        if scalar is None:
            raise ValueError(f"connector {connector}: field {name} has a type GraphQL cannot show ({info.annotation})")
        annotations[name] = typing.Optional[scalar]  # noqa: UP045 - built at run time, not an annotation
    annotations["provenance"] = ConnectorProvenance
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__}
    for name, info in fields.model_fields.items():
        namespace[name] = strawberry.field(description=info.description)
    cls = type(type_name(connector), (), namespace)
    return strawberry.type(cls, name=type_name(connector), description=description)
