"""Thresholds in bits of evidence: the same pair gets the same decision whatever the register's size."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.linkage import ExternalCase, Ranked, Trained, load_ranked, save_ranked, sweep
from graph.errors import InvalidValue
from graph.linkage.decision import Outcome, ScoredCandidate, Thresholds, decide
from graph.linkage.model import Score, prob_to_match_weight, weight_to_probability

THRESHOLDS = Thresholds(auto_link_bits=22, review_bits=11, margin=5)
PRIOR_20K = prob_to_match_weight(5e-05)  # about -14.3 bits
PRIOR_1M = prob_to_match_weight(9.96e-07)  # about -19.9 bits


def candidate(person: str, evidence: float, prior_weight: float) -> ScoredCandidate:
    weight = prior_weight + evidence
    return ScoredCandidate(person, Score(weight, weight_to_probability(weight), prior_weight, ()))


def test_the_same_evidence_is_decided_alike_at_20k_and_at_1m_people() -> None:
    for evidence, outcome in ((24.0, Outcome.AUTO_LINK), (15.0, Outcome.REVIEW), (9.0, Outcome.NO_LINK)):
        small = decide([candidate("p", evidence, PRIOR_20K)], THRESHOLDS, "v1")
        large = decide([candidate("p", evidence, PRIOR_1M)], THRESHOLDS, "v1")
        assert small.outcome is large.outcome is outcome, evidence
    # what went wrong before: 24 bits of evidence clear a probability of 0.995 at 20k people, not at 1M
    assert weight_to_probability(PRIOR_20K + 24) >= 0.995 > weight_to_probability(PRIOR_1M + 24)


def test_the_reason_names_the_evidence_and_the_probability_is_kept() -> None:
    best = candidate("p", 24.0, PRIOR_1M)
    decision = decide([best], THRESHOLDS, "v1")
    assert (decision.outcome, decision.person_id, decision.candidates) == (Outcome.AUTO_LINK, "p", (best,))
    assert decision.reason.startswith("evidence 24.00 bits (probability 0.9435")
    assert ">= 22 bits, the only candidate" in decision.reason
    assert decision.candidates[0].score.match_probability == best.score.match_probability

    queued = decide([candidate("p", 15.0, PRIOR_1M)], THRESHOLDS, "v1")
    assert "between the review (11 bits) and auto-link (22 bits) thresholds" in queued.reason
    none = decide([candidate("p", 10.99, PRIOR_1M)], THRESHOLDS, "v1")
    assert (none.outcome, none.candidates) == (Outcome.NO_LINK, ())
    assert "evidence 10.99 bits" in none.reason and "below the review threshold of 11 bits" in none.reason


def test_thresholds_are_inclusive() -> None:
    assert decide([candidate("p", 22.0, PRIOR_20K)], THRESHOLDS, "v").outcome is Outcome.AUTO_LINK
    assert decide([candidate("p", 11.0, PRIOR_20K)], THRESHOLDS, "v").outcome is Outcome.REVIEW


def test_a_runner_up_within_the_margin_sends_both_to_a_steward() -> None:
    twin, other_twin, stranger = (
        candidate("twin", 30.0, PRIOR_1M),
        candidate("other-twin", 26.0, PRIOR_1M),
        candidate("stranger", 3.0, PRIOR_1M),
    )
    decision = decide([stranger, other_twin, twin], THRESHOLDS, "v")
    assert decision.outcome is Outcome.REVIEW and decision.person_id is None
    assert [c.person_id for c in decision.candidates] == ["twin", "other-twin"]
    assert "only 4.00 bits ahead of another candidate (margin 5)" in decision.reason
    clear = decide([candidate("twin", 31.5, PRIOR_1M), other_twin], THRESHOLDS, "v")
    assert (clear.outcome, clear.person_id) == (Outcome.AUTO_LINK, "twin")
    assert "5.50 bits ahead of the next candidate" in clear.reason


def test_a_below_review_candidate_close_to_the_best_is_queued_with_it() -> None:
    decision = decide([candidate("a", 13.0, PRIOR_20K), candidate("b", 9.0, PRIOR_20K)], THRESHOLDS, "v")
    assert [c.person_id for c in decision.candidates] == ["a", "b"]


def test_the_equivalent_probabilities_depend_on_the_prior() -> None:
    auto, review = THRESHOLDS.probabilities(PRIOR_20K)
    assert math.isclose(prob_to_match_weight(auto), PRIOR_20K + 22) and math.isclose(
        prob_to_match_weight(review), PRIOR_20K + 11
    )
    assert THRESHOLDS.probabilities(PRIOR_1M)[0] < auto
    assert THRESHOLDS.as_data() == {"autoLinkBits": 22, "reviewBits": 11, "margin": 5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auto_link_bits": 10, "review_bits": 20}, "thresholds: need review_bits <= auto_link_bits"),
        ({"auto_link_bits": math.inf}, "thresholds.auto_link_bits: must be a finite number of bits"),
        ({"review_bits": math.nan}, "thresholds.review_bits: must be a finite number of bits"),
        ({"margin": -0.5}, "thresholds.margin: must not be negative"),
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        Thresholds(**kwargs)


def test_evidence_is_the_sum_of_the_comparison_weights(trained: Trained) -> None:
    core = dict(trained.labelled.core_records())
    external = dict(trained.labelled.external_records())
    checked = 0
    for case in trained.labelled.external[:200]:
        if case.person_id is None:
            continue
        score = trained.model.score(external[case.external_id], core[case.person_id])
        parts = sum(c.weight + c.tf_adjustment for c in score.comparisons)
        assert math.isclose(score.evidence, parts, abs_tol=1e-9)
        assert math.isclose(score.match_weight, trained.model.prior_weight + parts, abs_tol=1e-9)
        checked += 1
    assert checked > 100


def test_the_bench_sweep_reads_back_what_it_saved_and_decides_as_the_resolver(tmp_path: Path) -> None:
    cases = [
        ExternalCase("e1", {}, "p1", "copy", ()),
        ExternalCase("e2", {}, "t1", "twin", (), ("t2",)),
        ExternalCase("e3", {}, None, "unmatched", ()),
    ]
    ranked = [
        Ranked((candidate("p1", 25.0, PRIOR_1M), candidate("x", 2.0, PRIOR_1M)), False),
        Ranked((candidate("t2", 30.0, PRIOR_1M), candidate("t1", 27.0, PRIOR_1M)), False),
        Ranked((candidate("y", 9.0, PRIOR_1M),), False),
    ]
    path = tmp_path / "ranked.jsonl"
    save_ranked(path, cases, ranked, PRIOR_1M)
    again_cases, again, prior = load_ranked(path)
    assert prior == PRIOR_1M and [c.person_id for c in again_cases] == ["p1", "t1", None]
    for thresholds in (THRESHOLDS, Thresholds(auto_link_bits=20, review_bits=8, margin=2)):
        assert [r.decide(thresholds).outcome for r in again] == [r.decide(thresholds).outcome for r in ranked]
    rows = {(t.auto_link_bits, t.review_bits, t.margin): tally for t, tally in sweep(cases, again, [22], [8, 10], 5)}
    at_8, at_10 = rows[(22, 8, 5)], rows[(22, 10, 5)]
    assert (at_8.auto, at_8.auto_correct, at_8.queued, at_8.covered) == (1, 1, 2, 2)  # the twins go to review
    assert (at_10.queued, at_10.hard_wrong_auto) == (1, [])
    # without the margin rule the wrong twin would have been linked: the sweep counts it as a hard case
    [(_, loose)] = sweep(cases, again, [22], [10], 0)
    assert loose.hard_wrong_auto == ["twin e2 -> t2"] and loose.precision() == 0.5
