"""The hub's scorer against Splink's own predictions: same model file, same pairs, same numbers."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from bench.linkage import Trained
from graph.linkage.errors import ModelError
from graph.linkage.features import COMPARISONS, MatchRecord, make_record
from graph.linkage.model import FORMAT, LinkageModel, content_version
from hub.linkage import load_current_model, save_model, splink_session

TOLERANCE = 1e-9


def _compare(model: LinkageModel, rows: list[dict[str, Any]], by_id: dict[str, MatchRecord]) -> set[tuple[str, int]]:
    """Assert every row's weights equal the hub's; return the (comparison, gamma) levels seen."""
    seen: set[tuple[str, int]] = set()
    for row in rows:
        left, right = by_id[row["unique_id_l"]], by_id[row["unique_id_r"]]
        score = model.score(left, right)
        assert math.isclose(score.match_weight, row["match_weight"], rel_tol=0, abs_tol=TOLERANCE), row
        assert math.isclose(score.match_probability, row["match_probability"], rel_tol=1e-12, abs_tol=1e-300)
        for part in score.comparisons:
            name = part.comparison
            assert part.gamma == row[f"gamma_{name}"], (name, row)
            assert math.isclose(part.weight, row[f"mw_{name}"], abs_tol=TOLERANCE), (name, row)
            if f"mw_tf_adj_{name}" in row:
                assert math.isclose(part.tf_adjustment, row[f"mw_tf_adj_{name}"], abs_tol=TOLERANCE), (name, row)
            seen.add((name, part.gamma))
    return seen


def test_scores_equal_splink_predict_on_blocked_pairs(trained: Trained) -> None:
    core = trained.labelled.core_records()
    external = trained.labelled.external_records()
    session = splink_session(trained.document["settings"], core, external, tf_tables=trained.document["tf_tables"])
    rows = session.linker.inference.predict(warning_mode="never").as_record_list()
    assert len(rows) >= 300
    seen = _compare(trained.model, rows, dict(core) | dict(external))
    # the comparison covered every level the data can reach, term-frequency levels included
    for comparison in COMPARISONS:
        for i, level in enumerate(comparison.levels):
            if not level.is_null:
                assert (comparison.name, comparison.gamma(i)) in seen, (comparison.name, level.label)


def test_scores_equal_splink_on_unseen_values_and_missing_fields(trained: Trained) -> None:
    """Pairs Splink never blocked, values absent from the frequency tables, fields missing on one side."""
    rng = random.Random(3)
    core = trained.labelled.core_records()
    sample = rng.sample(core, 25)
    strangers = [
        ("new-1", make_record("Zebedee", "Quuxworth", None, "ZZ9 9ZZ", "1 Nowhere Lane")),
        ("new-2", make_record("Bob", None, None, None, "3 High Street")),
        ("new-3", make_record(None, "Smith", None, "AB1 2CD", None)),
    ]
    right = [(uid, r) for uid, r in rng.sample(trained.labelled.external_records(), 20)] + strangers
    session = splink_session(trained.document["settings"], core, right, tf_tables=trained.document["tf_tables"])
    rows = session.linker.inference.score_pairs(
        [r.as_row(uid) for uid, r in sample], [r.as_row(uid) for uid, r in right]
    ).as_record_list()
    assert len(rows) == len(sample) * len(right) >= 300
    _compare(trained.model, rows, dict(sample) | dict(right))


def test_model_round_trips_through_its_file(trained: Trained, tmp_path: Path) -> None:
    path = save_model(trained.document, tmp_path)
    assert path.name == f"linkage-{trained.model.version}.json"
    loaded = load_current_model(tmp_path)
    assert loaded.version == trained.model.version
    a, b = trained.labelled.core_records()[0][1], trained.labelled.external_records()[0][1]
    assert loaded.score(a, b) == trained.model.score(a, b)


def test_the_version_is_the_content(trained: Trained) -> None:
    doc = trained.document
    assert doc["format"] == FORMAT
    assert doc["version"] == content_version(doc["settings"], doc["tf_tables"])
    assert "linker_uid" not in doc["settings"]


def test_an_edited_model_file_is_refused(trained: Trained, tmp_path: Path) -> None:
    doc = copy.deepcopy(trained.document)
    doc["settings"]["comparisons"][0]["comparison_levels"][1]["m_probability"] = 0.5
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="does not match its content"):
        LinkageModel.load(path)


def test_a_model_trained_with_other_levels_is_refused(trained: Trained) -> None:
    doc = copy.deepcopy(trained.document)
    doc["settings"]["comparisons"][0]["comparison_levels"][5]["sql_condition"] = (
        "jaro_winkler_similarity(given_name_l, given_name_r) >= 0.8"
    )
    doc["version"] = content_version(doc["settings"], doc["tf_tables"])
    with pytest.raises(ModelError, match="other level definitions"):
        LinkageModel(doc)


@pytest.mark.parametrize("document", [None, {}, {"format": "something else"}, {"format": FORMAT}])
def test_what_is_not_a_model_is_refused(document: Any) -> None:
    with pytest.raises(ModelError):
        LinkageModel(document)


def test_every_level_has_its_probabilities(trained: Trained) -> None:
    for row in trained.model.describe():
        if row["m"] is not None:
            assert 0 < row["u"] <= 1 and 0 <= row["m"] <= 1, row
