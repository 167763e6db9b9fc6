"""Per-request connector state: one DataLoader per connector, consent and identity checks, stale warnings.

A connector DataLoader's key is a person (id, NINO). One batch — every person a query asks this connector
about, at any depth — costs one consent read and one identity-link read in the graph, then one
`Source.fetch(keys)` (which coalesces with other requests, reads the cache and batches the upstream calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from graphql import GraphQLError
from pydantic import BaseModel
from strawberry.dataloader import DataLoader

from connectors import ConnectorRegistry, ErrorCode, FetchError, MatchKey, Provenance
from connectors.source import Source
from graph.consent import active_consents
from graph.driver import Graph
from graph.identity import identities_for_people

__all__ = ["ConnectorOutcome", "ConnectorRequest", "HeldField", "PersonKey"]

PersonKey = tuple[str, str | None]
"""(person id, NINO): what a connector loader is asked about."""


@dataclass(frozen=True, slots=True)
class ConnectorOutcome:
    """What one connector knows about one person, or why it cannot say."""

    value: BaseModel | None = None
    provenance: Provenance | None = None
    error: FetchError | None = None
    confidence: float | None = None


_NOTHING = ConnectorOutcome()


@dataclass(frozen=True, slots=True)
class HeldField:
    """One value a connector supplied about a person that the hub holds now (its cache), and whence."""

    connector: str
    field: str  # the record's field (python name)
    fetched_at: datetime
    stale: bool
    cached: bool
    confidence: float | None


class ConnectorRequest:
    """The connector side of one request's context (new per request, like every DataLoader)."""

    def __init__(self, registry: ConnectorRegistry, graph: Graph) -> None:
        self.registry = registry
        self.graph = graph
        self.loaders: dict[str, DataLoader[PersonKey, ConnectorOutcome]] = {}
        self._held: DataLoader[PersonKey, list[HeldField]] | None = None
        # Stale values served in place of a failed refresh: data plus a warning-level error (see fields.py).
        self.warnings: list[GraphQLError] = []

    def loader(self, connector: str) -> DataLoader[PersonKey, ConnectorOutcome]:
        loader = self.loaders.get(connector)
        if loader is None:
            loader = self.loaders[connector] = DataLoader(partial(self._load, connector))
        return loader

    async def _load(self, connector: str, people: Sequence[PersonKey]) -> list[ConnectorOutcome]:
        source = self.registry.get(connector)
        config = source.config
        ids = [pid for pid, _ in people]
        out: list[ConnectorOutcome | None] = [None] * len(people)
        if config.consent_required:
            consented = await active_consents(self.graph, ids, connector, config.purpose)
            refused = ConnectorOutcome(
                error=FetchError(ErrorCode.CONSENT_REQUIRED, f"no active consent for {connector} ({config.purpose})")
            )
            for i, ok in enumerate(consented):
                if not ok:
                    out[i] = refused
        wanted = [i for i, o in enumerate(out) if o is None]
        keys = await self._keys(source, people, wanted)
        results: dict[str, Any] = await source.fetch(list(dict.fromkeys(k for k, _ in keys.values()))) if keys else {}
        for i in wanted:
            if i not in keys:
                out[i] = _NOTHING
                continue
            key, confidence = keys[i]
            r = results[key]
            out[i] = ConnectorOutcome(r.value, r.provenance, r.error, confidence)
        return [o if o is not None else _NOTHING for o in out]

    @property
    def held(self) -> DataLoader[PersonKey, list[HeldField]]:
        """Per person: every connector field the hub holds now (Person.provenance), batched over people."""
        if self._held is None:
            self._held = DataLoader(self._load_held)
        return self._held

    async def _load_held(self, people: Sequence[PersonKey]) -> list[list[HeldField]]:
        out: list[list[HeldField]] = [[] for _ in people]
        now = datetime.now(UTC)
        for source in self.registry:
            keys = await self._keys(source, people, range(len(people)))
            if not keys:
                continue
            # Read from the cache only: provenance reports what is held, it fetches nothing new.
            cached = await source.cached(list(dict.fromkeys(k for k, _ in keys.values())))
            ttl = source.config.cache.ttl
            for i, (key, confidence) in keys.items():
                entry = cached.get(key)
                if entry is None or entry.value is None:
                    continue
                stale = entry.age(now) > ttl
                for name, value in entry.value.model_dump().items():
                    if value is not None:
                        out[i].append(HeldField(source.name, name, entry.fetched_at, stale, True, confidence))
        return out

    async def keys_for(self, source: Source, person: PersonKey) -> tuple[str, float] | None:
        """The connector's key (and match confidence) for one person, or None when nothing links them."""
        return (await self._keys(source, [person], [0])).get(0)

    async def _keys(
        self, source: Source, people: Sequence[PersonKey], wanted: Sequence[int]
    ) -> dict[int, tuple[str, float]]:
        """The connector's key (and match confidence) for each wanted person who has one."""
        if source.connector.match is MatchKey.NINO:
            # The NINO is verified on the core record: a deterministic match, no link needed.
            return {i: (nino, 1.0) for i in wanted if (nino := people[i][1])}
        if source.connector.match is MatchKey.EXTERNAL_ID:
            # Only a link that exists (made by the citizen, a steward or the resolver) says who is who.
            links = await identities_for_people(self.graph, [people[i][0] for i in wanted], source.name)
            return {i: (found[0][0], found[0][1]) for i, found in zip(wanted, links, strict=True) if found}
        # verified_email: no verified emails on the core record yet, so nobody matches (null, no error).
        return {}

    async def held_about(self, person_id: str, nino: str | None) -> list[dict[str, Any]]:
        """Every connector record the hub's cache holds about a person, with its provenance (subject access).

        Read from the cache only: an export reports what the hub holds, it does not fetch anything new.
        """
        held: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for source in self.registry:
            found = (await self._keys(source, [(person_id, nino)], [0])).get(0)
            if found is None:
                continue
            key, confidence = found
            cached = (await source.cached([key])).get(key)
            if cached is None:
                continue
            held.append(
                {
                    "connector": source.name,
                    "matchedBy": source.connector.match.value,
                    "matchConfidence": confidence,
                    "fetchedAt": cached.fetched_at.isoformat(),
                    "stale": cached.age(now) > source.config.cache.ttl,
                    "record": cached.value.model_dump(mode="json") if cached.value is not None else None,
                }
            )
        return held


def drain_warnings(request: ConnectorRequest | None) -> list[GraphQLError]:
    if request is None or not request.warnings:
        return []
    warnings, request.warnings = request.warnings, []
    return warnings
