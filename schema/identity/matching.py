"""Matching a connector's record to a person as it is fetched (issue 12's real-time path, schema side).

`Matcher` is what the hub hands the schema (`Context.linker`: `hub.identities.IdentityLinker`, the resolver
with the model in use); `link_fetched` fetches records a connector holds under ids not linked yet — one
`fetch`, cached, resilient and batched by the connector framework — and matches each on its attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from connectors import ConnectorRegistry
from graph.linkage.decision import Decision
from graph.linkage.errors import InvalidRecord

# The attributes the model compares, as a source may spell them (camelCase, as the API does, or snake_case).
ATTRIBUTES = {
    "givenName": ("givenName", "given_name"),
    "familyName": ("familyName", "family_name"),
    "dateOfBirth": ("dateOfBirth", "date_of_birth"),
    "postcode": ("postcode", "post_code"),
    "addressLine": ("addressLine", "address_line", "address_line1", "line1"),
}


class Matcher(Protocol):
    async def link(
        self, source: str, external_id: str, attributes: Mapping[str, Any], verified: Mapping[str, str] | None = None
    ) -> Decision:
        """Match one record and act on the decision; raises InvalidRecord, or a LinkageError when it cannot."""
        ...


def attributes_of(record: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The matchable attributes of a connector's record, under the names the resolver takes."""
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else dict(record)
    out: dict[str, Any] = {}
    for name, spellings in ATTRIBUTES.items():
        for spelling in spellings:
            if data.get(spelling) is not None:
                out[name] = data[spelling]
                break
    return out


@dataclass(frozen=True, slots=True)
class FetchedLink:
    """What became of one fetched record: a decision, or why there was none."""

    external_id: str
    decision: Decision | None = None
    problem: str | None = None
    refused: bool = False  # the record was fetched but cannot be matched (problem says why)


async def link_fetched(
    matcher: Matcher, registry: ConnectorRegistry, source: str, external_ids: Iterable[str]
) -> list[FetchedLink]:
    """Fetch the connector's records for `external_ids` and match each one; in the order asked.

    A record the upstream could not give, or one without the attributes to match on, is reported, not guessed.
    """
    ids = list(dict.fromkeys(external_ids))
    results = await registry.fetch(source, ids)
    out = []
    for external_id in ids:
        result = results.get(external_id)
        if result is None or result.value is None:
            why = result.error.message if result is not None and result.error is not None else "no such record"
            out.append(FetchedLink(external_id, problem=why))
            continue
        try:
            decision = await matcher.link(source, external_id, attributes_of(result.value))
        except InvalidRecord as exc:
            out.append(FetchedLink(external_id, problem=str(exc), refused=True))
            continue
        out.append(FetchedLink(external_id, decision))
    return out
