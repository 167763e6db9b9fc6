"""One small labelled set and one model trained on it with Splink, shared by the linkage tests.

Training is unsupervised (the labels never reach it), takes a few seconds on DuckDB, and is
deterministic for the seed, so every test sees the same model.
"""

from __future__ import annotations

import pytest

from bench.linkage import Trained, generate, train_on
from graph.bulk import write_batch
from graph.driver import Graph
from hub.linkage import TrainingOptions

SEED = 31
PEOPLE = 2500
EXTERNAL = 1200
HARD_CASES = 25  # of each kind: twins, father and son, common name in one postcode


@pytest.fixture(scope="session")
def trained() -> Trained:
    labelled = generate(PEOPLE, SEED, external=EXTERNAL, hard_cases=HARD_CASES)
    return train_on(labelled, TrainingOptions(seed=SEED))


@pytest.fixture(scope="session")
async def register(graph: Graph, trained: Trained) -> Trained:
    """The labelled set's core people in the graph (deterministic ids: writing twice changes nothing)."""
    for batch in trained.labelled.batches:
        await write_batch(graph, batch)
    return trained
