"""Subject access export: one document with everything held about the person, and nobody else's data."""

from __future__ import annotations

import uuid
from datetime import date

import orjson
import pytest
from conftest import MakePerson

from graph import audit, household
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.errors import NotFound
from graph.export import subject_access
from graph.identity import link_identity
from graph.models import RelationshipKind


async def test_export_holds_everything_about_the_person(graph: Graph, make_person: MakePerson) -> None:
    me = await make_person(given="Eve")
    kid = await make_person(given="Kim")
    stranger = await make_person(given="Stan")
    await household.link(graph, RelationshipKind.PARENT_OF, me.id, kid.id)
    address, claim = str(uuid.uuid4()), str(uuid.uuid4())
    await write_batch(
        graph,
        Batch(
            key=f"test:{address}",
            addresses=[
                {"id": address, "props": {"line1": "2 Export Row", "line2": None, "town": "Y", "postcode": "YY1 1YY"}}
            ],
            residences=[{"person": me.id, "address": address, "from": date(2019, 4, 1), "to": None}],
            claims=[
                {
                    "person": me.id,
                    "id": claim,
                    "props": {
                        "type": "UNIVERSAL_CREDIT",
                        "status": "ACTIVE",
                        "startDate": date(2022, 1, 1),
                        "amountPence": 40000,
                    },
                }
            ],
        ),
    )
    await link_identity(graph, me.id, "govuk-one-login", "urn:fdc:test:eve", method="test", linked_by="t")
    actor = audit.Actor(subject="cw-x", role="caseworker", department=None, purpose="child-maintenance")
    await audit.record_access(graph, actor, "req-export", {me.id: ["nino"], stranger.id: ["nino"]})

    doc = await subject_access(graph, me.id)
    orjson.dumps(doc)  # JSON-ready throughout
    assert doc["person"]["nino"] == me.nino and doc["person"]["dateOfBirth"] == "1985-05-17"
    assert not any(k.endswith("Key") for k in doc["person"])
    assert doc["relationships"] == [
        {
            "type": "PARENT_OF",
            "direction": "out",
            "personId": kid.id,
            "givenName": "Kim",
            "familyName": kid.family_name,
            "hoursPerWeek": None,
        }
    ]
    assert doc["addresses"][0]["postcode"] == "YY1 1YY" and doc["addresses"][0]["from"] == "2019-04-01"
    assert doc["claims"][0]["amountPence"] == 40000
    assert doc["identityLinks"][0]["externalId"] == "urn:fdc:test:eve"
    assert [(e["actor"], e["fields"]) for e in doc["accessLog"]] == [("cw-x", ["nino"])]
    assert stranger.nino not in orjson.dumps(doc).decode()


async def test_export_of_unknown_person(graph: Graph) -> None:
    with pytest.raises(NotFound):
        await subject_access(graph, str(uuid.uuid4()))
