"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from graph import audit, consent, household, maintenance, person, views
from graph.driver import Graph
from graph.linkage import links
from graph.models import Person
from graph.money import MaintenanceCase
from graph.views import HouseholdShape, HouseholdTree, TreeKey

K = TypeVar("K")
V = TypeVar("V")


def batched(
    fn: Callable[..., Awaitable[list[V]]], graph: Graph, *args: Any, **kwargs: Any
) -> Callable[[list[K]], Awaitable[Any]]:
    """`fn` bound to `graph` (and any leading `args`), each batch reported to the graph's instrument (batch
    size metric, trace span)."""
    name = fn.__name__

    async def load(keys: list[K]) -> list[V]:
        instrument = graph.instrument
        with instrument.batch(name, len(keys)) if instrument is not None else nullcontext():
            return await fn(graph, *args, keys, **kwargs)

    return load


class Loaders:
    __slots__ = (
        "person",
        "person_by_nino",
        "household",
        "access_log",
        "consents",
        "maintenance_case",
        "maintenance_cases",
        "graph",
        "_trees",
        "identity_links",  # issue 12
    )

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._trees: dict[tuple[HouseholdShape, TreeKey], DataLoader[str, HouseholdTree | None]] = {}
        self.person: DataLoader[str, Person | None] = DataLoader(batched(person.get_people, graph))
        self.person_by_nino: DataLoader[str, Person | None] = DataLoader(batched(person.get_people_by_nino, graph))
        self.household: DataLoader[str, household.Household | None] = DataLoader(
            batched(household.households_of, graph)
        )
        self.access_log: DataLoader[str, list[audit.AccessEntry]] = DataLoader(batched(audit.access_log, graph))
        self.consents: DataLoader[str, list[consent.Consent]] = DataLoader(batched(consent.consents_of, graph))
        self.maintenance_case: DataLoader[str, MaintenanceCase | None] = DataLoader(
            batched(maintenance.get_cases, graph)
        )
        self.maintenance_cases: DataLoader[str, list[maintenance.PersonCase]] = DataLoader(
            batched(maintenance.cases_for_person, graph)
        )
        self.identity_links: DataLoader[str, list[links.IdentityLink]] = DataLoader(
            batched(links.links_for_people, graph)
        )

    def tree(self, shape: HouseholdShape, key: TreeKey = "id") -> DataLoader[str, HouseholdTree | None]:
        """People with the households `shape` reaches, by id or NINO: one statement per batch (per shape)."""
        loader = self._trees.get((shape, key))
        if loader is None:
            loader = self._trees[(shape, key)] = DataLoader(batched(views.household_trees, self.graph, shape, key=key))
        return loader
