"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from graph import audit, consent, household, maintenance, person, views
from graph.driver import Graph
from graph.models import Person
from graph.money import MaintenanceCase
from graph.views import HouseholdShape, HouseholdTree, TreeKey


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
    )

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._trees: dict[tuple[HouseholdShape, TreeKey], DataLoader[str, HouseholdTree | None]] = {}
        self.person: DataLoader[str, Person | None] = DataLoader(partial(person.get_people, graph))
        self.person_by_nino: DataLoader[str, Person | None] = DataLoader(partial(person.get_people_by_nino, graph))
        self.household: DataLoader[str, household.Household | None] = DataLoader(
            partial(household.households_of, graph)
        )
        self.access_log: DataLoader[str, list[audit.AccessEntry]] = DataLoader(partial(audit.access_log, graph))
        self.consents: DataLoader[str, list[consent.Consent]] = DataLoader(partial(consent.consents_of, graph))
        self.maintenance_case: DataLoader[str, MaintenanceCase | None] = DataLoader(
            partial(maintenance.get_cases, graph)
        )
        self.maintenance_cases: DataLoader[str, list[maintenance.PersonCase]] = DataLoader(
            partial(maintenance.cases_for_person, graph)
        )

    def tree(self, shape: HouseholdShape, key: TreeKey = "id") -> DataLoader[str, HouseholdTree | None]:
        """People with the households `shape` reaches, by id or NINO: one statement per batch (per shape)."""
        loader = self._trees.get((shape, key))
        if loader is None:
            loader = self._trees[(shape, key)] = DataLoader(partial(views.household_trees, self.graph, shape, key=key))
        return loader
