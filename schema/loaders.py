"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from graph import audit, household, person
from graph.driver import Graph
from graph.models import Care, Claim, Person, Residence


class Loaders:
    __slots__ = (
        "person",
        "person_by_nino",
        "parents",
        "children",
        "partners",
        "cares_for",
        "residences",
        "claims",
        "access_log",
    )

    def __init__(self, graph: Graph) -> None:
        self.person: DataLoader[str, Person | None] = DataLoader(partial(person.get_people, graph))
        self.person_by_nino: DataLoader[str, Person | None] = DataLoader(partial(person.get_people_by_nino, graph))
        self.parents: DataLoader[str, list[Person]] = DataLoader(partial(household.parents_of, graph))
        self.children: DataLoader[str, list[Person]] = DataLoader(partial(household.children_of, graph))
        self.partners: DataLoader[str, list[Person]] = DataLoader(partial(household.partners_of, graph))
        self.cares_for: DataLoader[str, list[Care]] = DataLoader(partial(household.cared_for_by, graph))
        self.residences: DataLoader[str, list[Residence]] = DataLoader(partial(household.residences_of, graph))
        self.claims: DataLoader[str, list[Claim]] = DataLoader(partial(household.claims_of, graph))
        self.access_log: DataLoader[str, list[audit.AccessEntry]] = DataLoader(partial(audit.access_log, graph))
