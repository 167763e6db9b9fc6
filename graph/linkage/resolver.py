"""Real-time identity resolution of one incoming record (a connector fetch, a webhook).

1. Refuse a malformed record before anything is read or written (`features.parse_external`).
2. An identity already linked stays as it is: the hub person id never changes under it.
3. A verified identifier (a NINO the source has checked) decides alone: method "deterministic:nino".
4. Otherwise candidates come from indexed blocking (`blocking`), each is scored with the trained
   model (`model`), and the thresholds decide (`decision`); the outcome is persisted with its
   explanation (`links`).

Reads are one transaction (two short statements); a link or a queue entry is one more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from graph.driver import Graph, Tx
from graph.errors import InvalidValue
from graph.identity import identity_key, link_identity
from graph.linkage.blocking import MAX_CANDIDATES, BlockingKeys, Candidate, find_candidates
from graph.linkage.decision import Decision, Outcome, ScoredCandidate, Thresholds, decide
from graph.linkage.errors import InvalidRecord
from graph.linkage.features import MatchRecord, parse_external
from graph.linkage.links import write_decision
from graph.linkage.model import LinkageModel
from graph.models import name_key
from graph.nino import normalise_nino
from graph.validation import clean_name

MAX_KEY = 200
VERIFIED_IDENTIFIERS = ("nino",)


@dataclass(frozen=True, slots=True)
class ExternalRecord:
    """What a source says about one of its records: its id, its fields, and identifiers it has verified."""

    source: str
    external_id: str
    fields: Mapping[str, Any]
    verified: Mapping[str, str] = field(default_factory=dict)


def _check_identity(record: ExternalRecord) -> list[tuple[str, str]]:
    problems = []
    for name, value in (("source", record.source), ("externalId", record.external_id)):
        if not isinstance(value, str) or not value.strip():
            problems.append((name, "is required"))
        elif len(value) > MAX_KEY:
            problems.append((name, f"must be at most {MAX_KEY} characters"))
        elif "|" in value and name == "source":
            problems.append((name, "must not contain '|'"))
    return problems


def _verified_nino(record: ExternalRecord) -> tuple[str | None, list[tuple[str, str]]]:
    if not isinstance(record.verified, Mapping):
        return None, [("verified", "must be an object")]
    problems = [(f"verified.{k}", "is not an identifier the hub links on") for k in record.verified if k != "nino"]
    raw = record.verified.get("nino")
    if raw is None:
        return None, problems
    try:
        return normalise_nino(str(raw)), problems
    except InvalidValue as exc:
        return None, [*problems, ("verified.nino", exc.reason)]


def blocking_keys(record: MatchRecord, fields: Mapping[str, Any]) -> BlockingKeys:
    """The graph's own keys for the record (see `blocking`): names as `graph.person` stores them."""
    return BlockingKeys(
        date_of_birth=date.fromisoformat(record.date_of_birth) if record.date_of_birth else None,
        postcode=record.postcode,
        family_name_key=name_key(clean_name(str(fields["familyName"]), "familyName")),
        given_name_key=name_key(clean_name(str(fields["givenName"]), "givenName")),
    )


def when_truncated(decision: Decision, limit: int) -> Decision:
    """Blocking stopped at its limit: a better candidate may be missing, so a person decides."""
    return replace(
        decision,
        outcome=Outcome.REVIEW if decision.outcome is Outcome.AUTO_LINK else decision.outcome,
        person_id=None,
        reason=decision.reason + f"; blocking stopped at {limit} candidates",
        details={**decision.details, "truncated": True},
    )


class Resolver:
    """Links external records to people with one model and one set of thresholds."""

    def __init__(
        self,
        graph: Graph,
        model: LinkageModel,
        thresholds: Thresholds,
        *,
        actor: str = "linkage",
        max_candidates: int = MAX_CANDIDATES,
    ) -> None:
        self.graph = graph
        self.model = model
        self.thresholds = thresholds
        self.actor = actor
        self.max_candidates = max_candidates

    def validate(self, record: ExternalRecord) -> tuple[MatchRecord, str | None]:
        """The normalised record and a verified NINO, or InvalidRecord naming every problem."""
        problems = _check_identity(record)
        nino, nino_problems = _verified_nino(record)
        problems += nino_problems
        try:
            parsed = parse_external(record.fields)
        except InvalidRecord as exc:
            problems += exc.problems
            raise InvalidRecord(problems) from None
        if problems:
            raise InvalidRecord(problems)
        return parsed, nino

    def score(self, parsed: MatchRecord, candidates: list[Candidate]) -> list[ScoredCandidate]:
        return [ScoredCandidate(c.person_id, self.model.score(parsed, c.record)) for c in candidates]

    async def resolve(self, record: ExternalRecord, *, persist: bool = True) -> Decision:
        parsed, nino = self.validate(record)
        key = identity_key(record.source, record.external_id)
        keys = blocking_keys(parsed, record.fields)

        async def read(tx: Tx) -> tuple[dict[str, Any] | None, str | None, list[Candidate], bool]:
            existing = await tx.fetch_one(
                "MATCH (:ExternalIdentity {key: $key})<-[l:LINKED_TO]-(p:Person) "
                "RETURN p.id AS person, l.method AS method, l.modelVersion AS model LIMIT 1",
                {"key": key},
            )
            if existing is not None:
                return existing, None, [], False
            by_nino = None
            if nino is not None:
                # A pair a steward rejected is not linked again, not even on a verified identifier.
                row = await tx.fetch_one(
                    "MATCH (p:Person {nino: $nino}) "
                    "WHERE NOT EXISTS { (p)<-[:MATCH_CANDIDATE {status: 'REJECTED'}]-(:ExternalIdentity {key: $key}) } "
                    "RETURN p.id AS id",
                    {"nino": nino, "key": key},
                )
                by_nino = row["id"] if row else None
                if by_nino is not None:
                    return None, by_nino, [], False
            candidates, truncated = await find_candidates(tx, keys, key, self.max_candidates)
            return None, None, candidates, truncated

        existing, by_nino, candidates, truncated = await self.graph.read(read)
        if existing is not None:
            return Decision(
                Outcome.AUTO_LINK,
                existing["method"],
                existing["person"],
                (),
                "already linked",
                model_version=existing.get("model"),
                existing=True,
            )
        if by_nino is not None:
            decision = Decision(
                Outcome.AUTO_LINK,
                "deterministic:nino",
                by_nino,
                (),
                "verified National Insurance number",
            )
            if persist:
                await self._write_deterministic(record, parsed, decision)
            return decision
        decision = decide(self.score(parsed, candidates), self.thresholds, self.model.version)
        if truncated:
            decision = when_truncated(decision, self.max_candidates)
        if persist and decision.outcome is not Outcome.NO_LINK:
            await self._write(record, parsed, decision)
        return decision

    async def _write(self, record: ExternalRecord, parsed: MatchRecord, decision: Decision) -> None:
        await write_decision(
            self.graph,
            decision,
            source=record.source,
            external_id=record.external_id,
            record=parsed,
            thresholds=self.thresholds,
            actor=self.actor,
        )

    async def _write_deterministic(self, record: ExternalRecord, parsed: MatchRecord, decision: Decision) -> None:
        assert decision.person_id is not None
        await link_identity(
            self.graph,
            decision.person_id,
            record.source,
            record.external_id,
            method=decision.method,
            linked_by=self.actor,
            confidence=1.0,
        )
