"""The one-statement household read: every relation of a batch of people in one round trip."""

from __future__ import annotations

import uuid
from datetime import date

from conftest import MakePerson

from graph import household
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.models import RelationshipKind


async def test_households_of_reads_every_relation_in_one_statement(graph: Graph, make_person: MakePerson) -> None:
    mum, dad = (
        await make_person(given="Ma", born=date(1980, 1, 1)),
        await make_person(given="Pa", born=date(1979, 1, 1)),
    )
    kids = [await make_person(given=g, born=date(2012 + i, 1, 1)) for i, g in enumerate(("Ab", "Bo"))]
    for kid in kids:
        await household.link(graph, RelationshipKind.PARENT_OF, mum.id, kid.id)
        await household.link(graph, RelationshipKind.PARENT_OF, dad.id, kid.id)
    await household.link(graph, RelationshipKind.PARTNER_OF, mum.id, dad.id)
    await household.link(graph, RelationshipKind.CARES_FOR, mum.id, dad.id, 12)
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    await write_batch(
        graph,
        Batch(
            key=f"t:{old}",
            addresses=[
                {"id": old, "props": {"line1": "1 Old St", "line2": None, "town": "T", "postcode": "AA1 1AA"}},
                {"id": new, "props": {"line1": "2 New St", "line2": "Flat 3", "town": "T", "postcode": "BB2 2BB"}},
            ],
            residences=[
                {"person": mum.id, "address": old, "from": date(2010, 1, 1), "to": date(2020, 1, 1)},
                {"person": mum.id, "address": new, "from": date(2020, 1, 1), "to": None},
            ],
            claims=[
                {
                    "person": mum.id,
                    "id": str(uuid.uuid4()),
                    "props": {"type": "UC", "status": "ACTIVE", "startDate": date(2021, 1, 1), "amountPence": 100},
                },
                {
                    "person": mum.id,
                    "id": str(uuid.uuid4()),
                    "props": {"type": "CB", "status": "CLOSED", "startDate": date(2019, 1, 1), "amountPence": 200},
                },
            ],
        ),
    )
    ids = [mum.id, kids[0].id, str(uuid.uuid4())]
    before = graph.stats.round_trips
    households = await household.households_of(graph, ids)
    assert graph.stats.round_trips - before == 1
    assert households[2] is None
    hm, hk = households[0], households[1]
    assert hm is not None and hk is not None
    assert hm.parents == [] and hm.children == kids  # children oldest first
    assert hm.partners == [dad]
    assert [(c.person.id, c.hours_per_week) for c in hm.cares] == [(dad.id, 12)]
    assert [(r.address.postcode, r.address.line2, r.from_date, r.to_date) for r in hm.residences] == [
        ("BB2 2BB", "Flat 3", date(2020, 1, 1), None),  # current first
        ("AA1 1AA", None, date(2010, 1, 1), date(2020, 1, 1)),
    ]
    assert [(c.type, c.amount_pence, c.start_date) for c in hm.claims] == [
        ("UC", 100, date(2021, 1, 1)),  # newest first
        ("CB", 200, date(2019, 1, 1)),
    ]
    assert [p.given_name for p in hk.parents] == ["Pa", "Ma"] and hk.claims == [] and hk.children == []
