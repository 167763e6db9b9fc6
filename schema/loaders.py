"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from graph import audit, household, person
from graph.driver import Graph
from graph.models import Person


class Loaders:
    __slots__ = (
        "person",
        "person_by_nino",
        "household",
        "access_log",
    )

    def __init__(self, graph: Graph) -> None:
        self.person: DataLoader[str, Person | None] = DataLoader(partial(person.get_people, graph))
        self.person_by_nino: DataLoader[str, Person | None] = DataLoader(partial(person.get_people_by_nino, graph))
        self.household: DataLoader[str, household.Household | None] = DataLoader(
            partial(household.households_of, graph)
        )
        self.access_log: DataLoader[str, list[audit.AccessEntry]] = DataLoader(partial(audit.access_log, graph))
