"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from functools import cached_property
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
    """This request's DataLoaders, each built on first use: a request uses one or two of them, and
    building all of them for every request was 3.6% of the hub's CPU (py-spy, issue 13)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._trees: dict[tuple[HouseholdShape, TreeKey], DataLoader[str, HouseholdTree | None]] = {}

    @cached_property
    def person(self) -> DataLoader[str, Person | None]:
        return DataLoader(batched(person.get_people, self.graph))

    @cached_property
    def person_by_nino(self) -> DataLoader[str, Person | None]:
        return DataLoader(batched(person.get_people_by_nino, self.graph))

    @cached_property
    def household(self) -> DataLoader[str, household.Household | None]:
        return DataLoader(batched(household.households_of, self.graph))

    @cached_property
    def access_log(self) -> DataLoader[str, list[audit.AccessEntry]]:
        return DataLoader(batched(audit.access_log, self.graph))

    @cached_property
    def consents(self) -> DataLoader[str, list[consent.Consent]]:
        return DataLoader(batched(consent.consents_of, self.graph))

    @cached_property
    def maintenance_case(self) -> DataLoader[str, MaintenanceCase | None]:
        return DataLoader(batched(maintenance.get_cases, self.graph))

    @cached_property
    def maintenance_cases(self) -> DataLoader[str, list[maintenance.PersonCase]]:
        return DataLoader(batched(maintenance.cases_for_person, self.graph))

    @cached_property
    def identity_links(self) -> DataLoader[str, list[links.IdentityLink]]:  # issue 12
        return DataLoader(batched(links.links_for_people, self.graph))

    def tree(self, shape: HouseholdShape, key: TreeKey = "id") -> DataLoader[str, HouseholdTree | None]:
        """People with the households `shape` reaches, by id or NINO: one statement per batch (per shape)."""
        loader = self._trees.get((shape, key))
        if loader is None:
            loader = self._trees[(shape, key)] = DataLoader(batched(views.household_trees, self.graph, shape, key=key))
        return loader
