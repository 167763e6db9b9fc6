"""From scores to a decision: link automatically, queue for a steward, or leave unlinked.

The decision is made on the *evidence*: the sum of the comparison weights (and term-frequency
adjustments), that is the match weight minus the prior's weight, in bits. A match probability
would not do: the prior (about one in the register's number of people) shrinks as the register
grows, so a fixed probability threshold asks for more evidence from the same pair at one million
people than at twenty thousand (27.6 bits against 21.9 for 0.995), and true matches slip below it.
The evidence of a pair does not depend on the register's size; what a growing register adds is
more people who look alike, and that is what the margin rule is for.

Two thresholds in bits (config/linkage.yaml) split the scale: at or above `auto_link_bits` a link
is made without a person looking; from `review_bits` up to it the candidates go to the steward
review queue; below `review_bits` nothing happens. The best candidate is linked automatically
only when it also leads the runner-up by `margin` bits: twins (same family name, date of birth and
address) or a father and son with the same name at the same address can both score highly against
one record, and when the record cannot tell them apart (a missing date of birth, a nickname both
could carry), a person must. Every decision still keeps the model's probability and match weight,
equal to Splink's; only the line drawn through them is in bits of evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from graph.errors import InvalidValue
from graph.linkage.model import Score, weight_to_probability


class Outcome(StrEnum):
    AUTO_LINK = "AUTO_LINK"
    REVIEW = "REVIEW"
    NO_LINK = "NO_LINK"


@dataclass(frozen=True, slots=True)
class Thresholds:
    auto_link_bits: float = 22.0  # evidence at or above which the best candidate is linked automatically
    review_bits: float = 10.0  # evidence at or above which candidates go to the steward review queue
    margin: float = 5.0  # bits of match weight the best candidate must lead by to be linked automatically

    def __post_init__(self) -> None:
        for key in ("auto_link_bits", "review_bits", "margin"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidValue(f"thresholds.{key}", f"must be a finite number of bits, not {value!r}")
        if self.review_bits > self.auto_link_bits:
            raise InvalidValue("thresholds", "need review_bits <= auto_link_bits")
        if self.margin < 0:
            raise InvalidValue("thresholds.margin", "must not be negative")

    def as_data(self) -> dict[str, float]:
        return {"autoLinkBits": self.auto_link_bits, "reviewBits": self.review_bits, "margin": self.margin}

    def probabilities(self, prior_weight: float) -> tuple[float, float]:
        """The (auto-link, review) match probabilities these thresholds amount to under a model with this prior."""
        return (
            weight_to_probability(prior_weight + self.auto_link_bits),
            weight_to_probability(prior_weight + self.review_bits),
        )


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


def _evidence(score: Score) -> str:
    return f"evidence {score.evidence:.2f} bits (probability {score.match_probability:.6g})"


def decide(scored: Sequence[ScoredCandidate], thresholds: Thresholds, model_version: str) -> Decision:
    """Apply the thresholds and the margin rule to every scored candidate of one record."""
    ranked = sorted(scored, key=lambda c: c.score.match_weight, reverse=True)
    common = {"model_version": model_version, "considered": len(ranked)}
    if not ranked:
        return Decision(Outcome.NO_LINK, "probabilistic", None, (), "no candidate shares a blocking key", **common)
    best = ranked[0]
    evidence = best.score.evidence
    if evidence < thresholds.review_bits:
        return Decision(
            Outcome.NO_LINK,
            "probabilistic",
            None,
            (),
            f"best candidate's {_evidence(best.score)} is below the review threshold of "
            f"{thresholds.review_bits:g} bits",
            **common,
        )
    runner_up = ranked[1] if len(ranked) > 1 else None
    lead = best.score.match_weight - runner_up.score.match_weight if runner_up else None
    if evidence >= thresholds.auto_link_bits and (lead is None or lead >= thresholds.margin):
        return Decision(
            Outcome.AUTO_LINK,
            "probabilistic",
            best.person_id,
            (best,),
            f"{_evidence(best.score)} >= {thresholds.auto_link_bits:g} bits"
            + (f", {lead:.2f} bits ahead of the next candidate" if lead is not None else ", the only candidate"),
            **common,
        )
    queued = tuple(
        c
        for c in ranked
        if c.score.evidence >= thresholds.review_bits
        or best.score.match_weight - c.score.match_weight < thresholds.margin
    )
    if evidence >= thresholds.auto_link_bits:
        reason = (
            f"{_evidence(best.score)} >= {thresholds.auto_link_bits:g} bits but only {lead:.2f} bits ahead of "
            f"another candidate (margin {thresholds.margin:g}): a person must choose"
        )
    else:
        reason = (
            f"{_evidence(best.score)} is between the review ({thresholds.review_bits:g} bits) and auto-link "
            f"({thresholds.auto_link_bits:g} bits) thresholds"
        )
    return Decision(Outcome.REVIEW, "probabilistic", None, queued, reason, **common)
