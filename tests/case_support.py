"""A child-maintenance case with both parents signed in, for the API, webhook and event tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from support import random_nino, unique_family

from graph import maintenance as repo
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.identity import link_identity
from graph.models import NewPerson, Person
from graph.money import Frequency, MaintenanceCase, Scheme
from graph.person import create_person

PAYER_POSTCODE = "ZP1 1PP"
RECEIVER_POSTCODE = "ZR2 2RR"


@dataclass(frozen=True, slots=True)
class CaseFamily:
    payer: Person
    receiver: Person
    child: Person
    stranger: Person
    case: MaintenanceCase
    subjects: dict[str, str]  # payer / receiver / stranger -> One Login subject


async def case_family(graph: Graph, scheme: Scheme = Scheme.COLLECT_AND_PAY, *, payment: bool = True) -> CaseFamily:
    """Paying and receiving parent (each with an address), a child, a stranger; a monthly schedule of £100
    from 60 days ago and, optionally, one payment of £50."""
    from conftest import PEOPLE_MADE

    family = unique_family()
    made = {}
    for role, given, born in (
        ("payer", "Paul", date(1980, 1, 2)),
        ("receiver", "Rita", date(1982, 3, 4)),
        ("child", "Kim", date(2015, 5, 6)),
        ("stranger", "Sam", date(1979, 7, 8)),
    ):
        made[role] = await create_person(
            graph, NewPerson(given_name=given, family_name=family, nino=random_nino(), date_of_birth=born)
        )
        PEOPLE_MADE.append(made[role])
    addresses = []
    residences = []
    for role, postcode in (("payer", PAYER_POSTCODE), ("receiver", RECEIVER_POSTCODE)):
        address = str(uuid.uuid4())
        addresses.append(
            {"id": address, "props": {"line1": "1 Any Street", "line2": None, "town": "Testford", "postcode": postcode}}
        )
        residences.append({"person": made[role].id, "address": address, "from": date(2020, 1, 1), "to": None})
    await write_batch(graph, Batch(key=f"test:{uuid.uuid4()}", addresses=addresses, residences=residences))
    subjects = {}
    for role in ("payer", "receiver", "stranger"):
        subjects[role] = f"urn:fdc:gov.uk:2022:{uuid.uuid4()}"
        await link_identity(graph, made[role].id, "govuk-one-login", subjects[role], method="test", linked_by="test")
    case = await repo.create_case(graph, scheme, made["payer"].id, made["receiver"].id, [made["child"].id])
    start = datetime.now(UTC).date() - timedelta(days=60)
    await repo.add_schedule(graph, case.id, 10_000, Frequency.MONTHLY, start)
    if payment:
        await repo.record_payment(graph, case.id, 5_000, datetime.now(UTC) - timedelta(days=1), f"test:{uuid.uuid4()}")
    return CaseFamily(
        made["payer"], made["receiver"], made["child"], made["stranger"], await repo.get_case(graph, case.id), subjects
    )
