"""Per-connector fields on Person, generated at schema build time from the connectors' declarations.

Each configured connector becomes one nullable field on Person: `socialProfile: SocialProfile` for a
`social_profile` connector named `social`, `partnerBenefits: PartnerBenefitsRecord` for a `rest` connector
named `partner_benefits` (its declared fields, typed). The rules a resolver applies, in order:

1. Field policy (`schema.permissions`, default deny): `Person.<field>` and the record type's fields need a
   grant in `config/policies.yaml`, like every other field.
2. Purpose limitation (UK GDPR Art. 5(1)(b)): a connector declares one `purpose`; only a principal whose
   stated purpose is exactly that purpose reads it. Anyone else gets FORBIDDEN and the upstream is not
   called, whatever the grants say.
3. Consent: a consent-required connector is asked only about people with an active consent for it and its
   purpose; others resolve null with CONSENT_REQUIRED.
4. A failing source never fails the query: the field is null with an error whose `extensions` carry
   `code`, `connector` and `staleServed: false`. When a stale copy is served instead (the cache's
   stale-if-error), the value is returned with `provenance.stale = true` and a warning-level error
   (`extensions.severity = "WARNING"`, `staleServed: true`) says why it is stale.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLError
from pydantic import BaseModel
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from connectors import ConnectorConfigError
from connectors.contract import Connector, ConnectorConfig
from connectors.kinds.earnings_feed import EarningsFeedConnector
from connectors.kinds.payments_feed import PaymentsFeedConnector
from connectors.kinds.rest import FieldSpec, record_model
from connectors.kinds.social_profile import SocialProfileConnector
from connectors.registry import ConnectorSpec
from schema.connectors.loaders import ConnectorOutcome
from schema.connectors.types import (
    ConnectorProvenance,
    EarningsFeedType,
    PaymentsFeedType,
    SocialProfile,
    record_type,
)
from schema.context import Info
from schema.errors import HubError

__all__ = ["ConnectorField", "connector_fields", "field_name", "install"]

log = logging.getLogger(__name__)


# Code kinds whose records have a hand-made (or model-generated) GraphQL type; the others get `record_type`.
KIND_TYPES: tuple[tuple[type[Connector], type], ...] = (
    (SocialProfileConnector, SocialProfile),
    (PaymentsFeedConnector, PaymentsFeedType),
    (EarningsFeedConnector, EarningsFeedType),
)


def kind_type(kind: type[Connector]) -> type | None:
    return next((t for k, t in KIND_TYPES if issubclass(kind, k)), None)


@dataclass(frozen=True, slots=True)
class ConnectorField:
    connector: str
    name: str  # the GraphQL field name on Person
    purpose: str
    graphql_type: type
    field: StrawberryField


def field_name(config: ConnectorConfig[Any], kind: type[Connector]) -> str:
    """``partner_benefits`` -> ``partnerBenefits``; a social-profile source named ``social`` -> ``socialProfile``."""
    name = config.name
    if issubclass(kind, SocialProfileConnector) and not name.endswith("profile"):
        name += "_profile"
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def fields_model(spec: ConnectorSpec) -> type[BaseModel] | None:
    """The record model a connector declares: a code kind's `fields`, or a `rest` instance's declared fields."""
    model = getattr(spec.kind, "fields", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    declared = getattr(spec.config.settings, "fields", None)  # declarative kinds: rest, graphql
    if isinstance(declared, dict) and declared and all(isinstance(f, FieldSpec) for f in declared.values()):
        return record_model(spec.config.name, declared)
    return None


def connector_fields(specs: Sequence[ConnectorSpec], taken: set[str]) -> list[ConnectorField]:
    """One Person field per connector. Raises `ConnectorConfigError` (file and key) for one that cannot be shown."""
    out: list[ConnectorField] = []
    names = set(taken)
    for spec in specs:
        config = spec.config
        name = field_name(config, spec.kind)
        if name in names:
            raise ConnectorConfigError.at(
                "name", f"Person already has a field {name!r}: rename the connector", spec.file
            )
        names.add(name)
        known = kind_type(spec.kind)
        if known is not None:
            graphql_type: type = known
        else:
            model = fields_model(spec)
            if model is None:
                raise ConnectorConfigError.at("kind", f"kind {spec.kind.kind} declares no fields model", spec.file)
            try:
                graphql_type = record_type(config.name, model, config.description)
            except ValueError as exc:
                raise ConnectorConfigError.at("settings.fields", str(exc), spec.file) from None
        out.append(ConnectorField(config.name, name, config.purpose, graphql_type, _field(config, name, graphql_type)))
    return out


def _field(config: ConnectorConfig[Any], name: str, graphql_type: type) -> StrawberryField:
    connector, purpose = config.name, config.purpose

    async def resolve(root: Any, info: Info) -> Any:
        return await resolve_connector(root, info, connector, purpose, graphql_type)

    resolve.__annotations__ = {"root": Any, "info": Info, "return": graphql_type | None}
    consent = " Needs the person's consent." if config.consent_required else ""
    f = strawberry.field(
        resolver=resolve,
        name=name,
        description=f"{config.description.strip()} (connector `{connector}`, purpose `{purpose}`).{consent}",
    )
    f.python_name = name
    return f


async def resolve_connector(root: Any, info: Info, connector: str, purpose: str, graphql_type: type) -> Any:
    ctx = info.context
    principal = ctx.principal
    if principal is None or principal.purpose != purpose:
        read = ctx.reads.get(root.id)
        if read is not None:  # refused: not a read for the audit trail
            read.discard(info.field_name)
            if not read:
                del ctx.reads[root.id]
        raise HubError(
            f"Not allowed: {connector} data is read only for the purpose {purpose}", "FORBIDDEN", connector=connector
        )
    request = ctx.connectors
    if request is None or connector not in request.registry:
        raise HubError(
            f"connector {connector} is not running", "CONNECTOR_UNAVAILABLE", connector=connector, staleServed=False
        )
    outcome: ConnectorOutcome = await request.loader(connector).load((str(root.id), root.nino))
    if outcome.error is not None and outcome.value is None:
        raise HubError(outcome.error.message, outcome.error.code.value, connector=connector, staleServed=False)
    if outcome.value is None or outcome.provenance is None:
        return None
    if outcome.error is not None:
        request.warnings.append(
            GraphQLError(
                f"{connector}: {outcome.error.message}; a stale copy was served",
                path=info.path.as_list(),
                extensions={
                    "code": outcome.error.code.value,
                    "connector": connector,
                    "staleServed": True,
                    "severity": "WARNING",
                },
            )
        )
    provenance = ConnectorProvenance.of(outcome.provenance, outcome.confidence)
    if hasattr(graphql_type, "from_pydantic"):
        # Strawberry converts `extra` field by field as data: the provenance goes in as its fields.
        return graphql_type.from_pydantic(outcome.value, extra={"provenance": dataclasses.asdict(provenance)})
    return graphql_type(**outcome.value.model_dump(), provenance=provenance)


_INSTALLED = "__hub_connector_fields__"


def _provenance_field(paths: dict[str, str]) -> StrawberryField:
    from schema.connectors.stewardship import FieldProvenance, resolve_provenance

    async def resolve(root: Any, info: Info) -> list[FieldProvenance] | None:
        return await resolve_provenance(root, info, paths)

    resolve.__annotations__ = {"root": Any, "info": Info, "return": list[FieldProvenance] | None}

    f = strawberry.field(
        resolver=resolve,
        name="provenance",
        description="Where each connector-sourced fact the hub holds about this person came from (no upstream call).",
    )
    f.python_name = "provenance"
    return f


def install(person: type, specs: Sequence[ConnectorSpec]) -> list[ConnectorField]:
    """Put exactly these connectors' fields on the Person type (replacing any a previous build installed).

    Strawberry reads a type's fields when a schema is built, and the built schema keeps its own copy, so
    two schemas built one after the other (tests, `hub schema`) each get the fields they were built with.
    """
    definition = person.__strawberry_definition__  # type: ignore[attr-defined]
    previous: set[str] = getattr(person, _INSTALLED, set())
    static = [f for f in definition.fields if f.python_name not in previous]
    taken = {f.graphql_name or to_camel_case(f.python_name) for f in static} | {"provenance"}
    fields = connector_fields(specs, taken=taken)
    definition.fields[:] = static
    provenance = _provenance_field({cf.connector: cf.name for cf in fields})
    for f in (*(cf.field for cf in fields), provenance):
        f.origin = person
        definition.fields.append(f)
    setattr(person, _INSTALLED, {cf.name for cf in fields} | {"provenance"})
    return fields
