"""`hub serve --demo`: a linkage model and a demo register's records, so the steward review queue has work."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import Gql, MintToken

from graph.driver import Graph
from graph.linkage.links import links_for_people
from graph.linkage.records import core_records
from hub.demo_identities import DEMO_DAMAGE, SOURCE, seed_demo_identities
from hub.linkage import CURRENT, load_config
from hub.seed import seed

QUEUE = """
query($source: String) {
  identityReviewQueue(source: $source, first: 50) {
    nodes { id source externalId status probability person { id } }
  }
}
"""


@pytest.fixture
def steward(token: MintToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token(['steward'], subject='steward-demo')}", "x-purpose": "data-stewardship"}


async def queue(gql: Gql, steward: dict[str, str]) -> list[dict[str, Any]]:
    body = await gql(QUEUE, {"source": SOURCE}, headers=steward)
    assert "errors" not in body, body
    nodes: list[dict[str, Any]] = body["data"]["identityReviewQueue"]["nodes"]
    return nodes


async def demo_links(graph: Graph) -> set[tuple[str, str]]:
    people = [c.person_id for c in await core_records(graph)]
    return {
        (pid, link.external_id)
        for pid, links in zip(people, await links_for_people(graph, people), strict=True)
        for link in links
        if link.source == SOURCE
    }


async def test_demo_seeding_fills_the_review_queue_once(
    graph: Graph, gql: Gql, steward: dict[str, str], tmp_path: Path
) -> None:
    await seed(graph, 600, seed=42)
    config = replace(load_config(), models_dir=tmp_path / "models")

    first = await seed_demo_identities(graph, config)
    assert first.trained is not None and (config.models_dir / CURRENT).read_text().strip() == first.trained
    assert sum(first.outcomes.values()) == len(DEMO_DAMAGE)
    assert first.outcomes.get("AUTO_LINK", 0) >= 2, first.outcomes
    assert first.outcomes.get("REVIEW", 0) >= 3, first.outcomes

    nodes = await queue(gql, steward)
    queued = {n["externalId"] for n in nodes}
    assert len(queued) == first.outcomes["REVIEW"]
    assert all(n["status"] == "PENDING" and n["person"]["id"] for n in nodes)
    links = await demo_links(graph)
    assert len(links) == first.outcomes["AUTO_LINK"]
    assert queued.isdisjoint({external for _, external in links})

    # Again (the next `make serve`): the model in use is kept, nothing is linked or queued twice.
    models = sorted(p.name for p in config.models_dir.iterdir())
    second = await seed_demo_identities(graph, config)
    assert second.trained is None
    assert set(second.outcomes) <= {"NO_LINK"}, second.outcomes
    assert sorted(p.name for p in config.models_dir.iterdir()) == models
    assert sorted(n["id"] for n in await queue(gql, steward)) == sorted(n["id"] for n in nodes)
    assert await demo_links(graph) == links
