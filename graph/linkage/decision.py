"""From scores to a decision: link automatically, queue for a steward, or leave unlinked.

Two probability thresholds (config/linkage.yaml) split the scale: at or above `auto_link` a link is
made without a person looking; from `review` up to it the candidates go to the steward review
queue; below `review` nothing happens. One more rule guards the cases pairwise scores cannot see:
the best candidate is linked automatically only when it leads the runner-up by `margin` bits of
match weight. Twins (same family name, date of birth and address) or a father and son with the same
name at the same address can both score highly against one record; when the record cannot tell
them apart (a missing date of birth, a nickname both could carry), a person must.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from graph.errors import InvalidValue
from graph.linkage.model import Score


class Outcome(StrEnum):
    AUTO_LINK = "AUTO_LINK"
    REVIEW = "REVIEW"
    NO_LINK = "NO_LINK"


@dataclass(frozen=True, slots=True)
class Thresholds:
    auto_link: float = 0.999
    review: float = 0.5
    margin: float = 5.0  # bits of match weight the best candidate must lead by to be linked automatically

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.auto_link < 1:
            raise InvalidValue("thresholds", "need 0 < review <= auto_link < 1")
        if self.margin < 0:
            raise InvalidValue("thresholds.margin", "must not be negative")

    def as_data(self) -> dict[str, float]:
        return {"autoLink": self.auto_link, "review": self.review, "margin": self.margin}


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    person_id: str
    score: Score


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    method: str  # "probabilistic", or "deterministic:<identifier>" when a verified identifier decided
    person_id: str | None  # the person linked (AUTO_LINK), else None
    candidates: tuple[ScoredCandidate, ...]  # AUTO_LINK: the one linked; REVIEW: those queued, best first
    reason: str
    model_version: str | None = None
    existing: bool = False  # the identity was already linked: nothing was decided anew
    considered: int = 0  # how many candidates blocking found
    details: dict[str, Any] = field(default_factory=dict)


def decide(scored: Sequence[ScoredCandidate], thresholds: Thresholds, model_version: str) -> Decision:
    """Apply the thresholds and the margin rule to every scored candidate of one record."""
    ranked = sorted(scored, key=lambda c: c.score.match_weight, reverse=True)
    common = {"model_version": model_version, "considered": len(ranked)}
    if not ranked:
        return Decision(Outcome.NO_LINK, "probabilistic", None, (), "no candidate shares a blocking key", **common)
    best = ranked[0]
    p = best.score.match_probability
    if p < thresholds.review:
        return Decision(
            Outcome.NO_LINK,
            "probabilistic",
            None,
            (),
            f"best candidate's probability {p:.6g} is below the review threshold {thresholds.review}",
            **common,
        )
    runner_up = ranked[1] if len(ranked) > 1 else None
    lead = best.score.match_weight - runner_up.score.match_weight if runner_up else None
    if p >= thresholds.auto_link and (lead is None or lead >= thresholds.margin):
        return Decision(
            Outcome.AUTO_LINK,
            "probabilistic",
            best.person_id,
            (best,),
            f"probability {p:.6g} >= {thresholds.auto_link}"
            + (f", {lead:.2f} bits ahead of the next candidate" if lead is not None else ", the only candidate"),
            **common,
        )
    queued = tuple(
        c
        for c in ranked
        if c.score.match_probability >= thresholds.review
        or best.score.match_weight - c.score.match_weight < thresholds.margin
    )
    if p >= thresholds.auto_link:
        reason = (
            f"probability {p:.6g} >= {thresholds.auto_link} but only {lead:.2f} bits ahead of another candidate "
            f"(margin {thresholds.margin}): a person must choose"
        )
    else:
        reason = f"probability {p:.6g} is between the review ({thresholds.review}) and auto-link thresholds"
    return Decision(Outcome.REVIEW, "probabilistic", None, queued, reason, **common)
