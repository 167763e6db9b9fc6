"""Training from the graph and a source's extract, configuration, and where models are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.linkage import Trained
from graph.bulk import write_batch
from graph.driver import Graph
from graph.linkage.features import make_record
from graph.linkage.model import LinkageModel
from graph.migrations import schema_names
from hub.linkage import (
    CURRENT,
    LinkageConfig,
    LinkageSetupError,
    TrainingOptions,
    load_config,
    load_current_model,
    read_sample,
    swapped_names_u,
    train,
    train_from_graph,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "linkage.yaml"


def test_the_shipped_configuration_loads() -> None:
    config = load_config(CONFIG)
    assert 0 < config.thresholds.review_bits < config.thresholds.auto_link_bits
    assert config.thresholds.margin > 0
    assert config.training.u_max_pairs >= 1e6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thresholds: {auto_link_bits: 10, review_bits: 20}", "review_bits <= auto_link_bits"),
        ("thresholds: {auto_link_bits: high}", "could not convert"),
        ("thresholds: {review_bits: .inf}", "thresholds.review_bits: must be a finite number of bits"),
        ("thresholds: {margin: -1}", "thresholds.margin: must not be negative"),
        ("thresholds: {auto_link: 0.995, review: 0.1}", "thresholds.auto_link was a probability.*auto_link_bits"),
        ("thresholds: {autolink_bits: 22}", "unknown keys"),
        ("thresholds: [22, 11]", "thresholds and training must be mappings"),
        ("threshold: {}", "unknown keys ['threshold']"),
        ("- a list", "expected a mapping"),
        ("thresholds: [", "cannot read"),
    ],
)
def test_a_wrong_configuration_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "linkage.yaml"
    path.write_text(text)
    with pytest.raises(LinkageSetupError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_swapped_names_are_never_stronger_evidence_than_exact_names() -> None:
    records = [
        make_record(g, f, None, None, None) for g, f in [("Craig", "Bradley"), ("Bradley", "Craig"), ("Ann", "Lee")]
    ]
    u = swapped_names_u(records)
    assert 0 < u < 1
    only_distinct = swapped_names_u(
        [make_record("Ann", "Lee", None, None, None), make_record("Bo", "Ng", None, None, None)]
    )
    # no name is both a given and a family name: u falls back to the chance of agreeing on both names,
    # here 1/2 (two given names, equally common) times 1/2 (two family names)
    assert only_distinct == pytest.approx(0.5 * 0.5)


def test_too_little_data_is_refused() -> None:
    few = [("1", make_record("Ann", "Lee", None, "SW1A 1AA", None))]
    with pytest.raises(LinkageSetupError, match="at least 100"):
        train(few, few, TrainingOptions())


def test_a_sample_file_refuses_bad_lines_by_number(tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"}),
                "{not json",
                json.dumps({"givenName": "No", "familyName": "Id", "postcode": "SW1A 1AA"}),
                json.dumps({"id": "a", "givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"}),
                json.dumps({"id": 7, "givenName": "Bo", "familyName": "Ng", "dateOfBirth": "31/12/1999"}),
                "",
                json.dumps(["a", "list"]),
                json.dumps({"id": 8, "givenName": "Bo", "familyName": "Ng", "postcode": "M1 1AE"}),
            ]
        )
    )
    sample = read_sample(path)
    assert [uid for uid, _ in sample.records] == ["a", "8"]
    assert [n for n, _ in sample.refused] == [2, 3, 4, 5, 7]
    assert "dateOfBirth" in dict(sample.refused)[5]
    with pytest.raises(LinkageSetupError, match="cannot read"):
        read_sample(tmp_path / "missing.jsonl")


async def test_train_from_the_graph_saves_a_current_versioned_model(
    graph: Graph, trained: Trained, tmp_path: Path
) -> None:
    for batch in trained.labelled.batches:
        await write_batch(graph, batch)  # deterministic ids: the register the other tests use
    sample_path = tmp_path / "extract.jsonl"
    lines = [json.dumps({"id": c.external_id, **c.fields}) for c in trained.labelled.external[:600]]
    sample_path.write_text("\n".join([*lines, '{"id": "bad", "givenName": "X"}']) + "\n")
    config = LinkageConfig(load_config(CONFIG).thresholds, tmp_path / "models", TrainingOptions(seed=3))

    path, document, sample = await train_from_graph(graph, sample_path, config)
    assert path.exists() and path.parent == tmp_path / "models"
    assert (tmp_path / "models" / CURRENT).read_text().strip() == document["version"]
    assert [n for n, _ in sample.refused] == [601]
    assert document["training"]["coreRecords"] >= len(trained.labelled.core)
    assert document["training"]["sampleRecords"] == 600
    model = load_current_model(tmp_path / "models")
    assert isinstance(model, LinkageModel) and model.version == document["version"]


async def test_no_model_yet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LinkageSetupError, match="train one first"):
        load_current_model(tmp_path)


async def test_the_blocking_indexes_exist(graph: Graph) -> None:
    names = await schema_names(graph)
    for wanted in ("person_date_of_birth", "address_postcode", "person_family_given_key", "external_identity_review"):
        assert wanted in names
