"""Per-request DataLoaders: one graph round trip per batch, results in key order."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from graph import audit, consent, household, maintenance, person
from graph.driver import Graph
from graph.linkage import links
from graph.models import Person
from graph.money import MaintenanceCase


class Loaders:
    __slots__ = (
        "person",
        "person_by_nino",
        "household",
        "access_log",
        "consents",
        "maintenance_case",
        "maintenance_cases",
        "identity_links",  # issue 12
    )

    def __init__(self, graph: Graph) -> None:
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
        self.identity_links: DataLoader[str, list[links.IdentityLink]] = DataLoader(
            partial(links.links_for_people, graph)
        )
