"""Candidate search by the full-name key: an indexed single property, kept by every writer and backfilled."""

from __future__ import annotations

import uuid
from datetime import date

from conftest import MakePerson
from support import random_nino

from graph.bulk import Batch, write_batch
from graph.driver import Graph, Tx
from graph.linkage.blocking import BlockingKeys, Candidate, backfill_full_name_keys, find_candidates
from graph.models import PersonChanges, name_key
from graph.person import update_person


async def by_name_only(graph: Graph, given: str, family: str) -> list[str]:
    """Candidates when only the name can find them (no shared date of birth or postcode)."""
    keys = BlockingKeys(date(1800, 1, 1), None, name_key(family), name_key(given))

    async def read(tx: Tx) -> list[Candidate]:
        return (await find_candidates(tx, keys, "test|none"))[0]

    return [c.person_id for c in await graph.read(read)]


async def test_a_person_is_found_by_full_name_alone_and_after_a_rename(
    graph: Graph, make_person: MakePerson, family: str
) -> None:
    person = await make_person("Winifred", born=date(1950, 1, 2))
    assert await by_name_only(graph, "winifred", family) == [person.id]
    assert await by_name_only(graph, "Winnie", family) == []
    renamed = await update_person(graph, person.id, person.version, PersonChanges(given_name="Winnie"))
    assert renamed.given_name == "Winnie"
    assert await by_name_only(graph, "Winnie", family) == [person.id]
    assert await by_name_only(graph, "Winifred", family) == []


async def test_people_written_before_the_key_existed_are_backfilled(graph: Graph, family: str) -> None:
    pid = str(uuid.uuid4())
    batch = Batch(key=f"test-{pid}")
    props = {"givenName": "Agatha", "familyName": family, "givenNameKey": "AGATHA", "familyNameKey": family.upper()}
    batch.people.append({"id": pid, "props": {**props, "nino": random_nino(), "status": "ACTIVE", "version": 1}})
    await write_batch(graph, batch)
    assert await by_name_only(graph, "Agatha", family) == []
    assert await backfill_full_name_keys(graph, once=True) == 0  # start-up did it already: not scanned again
    assert await backfill_full_name_keys(graph) >= 1
    assert await by_name_only(graph, "Agatha", family) == [pid]
    assert await backfill_full_name_keys(graph) == 0


async def test_each_key_alone_finds_the_person_and_a_missing_key_is_left_out(graph: Graph, family: str) -> None:
    """A record missing a key is searched by the others only (a null key would scan every person)."""
    pid, aid = str(uuid.uuid4()), str(uuid.uuid4())
    born, postcode = date(1901, 2, 3), f"ZZ{uuid.uuid4().int % 90 + 10} 9ZZ"
    batch = Batch(key=f"test-{pid}")
    props = {
        "givenName": "Ottoline",
        "familyName": family,
        "givenNameKey": name_key("Ottoline"),
        "familyNameKey": name_key(family),
        "fullNameKey": f"{name_key(family)}|{name_key('Ottoline')}",
        "dateOfBirth": born,
    }
    batch.people.append({"id": pid, "props": {**props, "nino": random_nino(), "status": "ACTIVE", "version": 1}})
    batch.addresses.append(
        {"id": aid, "props": {"line1": "1 High St", "line2": None, "town": "X", "postcode": postcode}}
    )
    batch.residences.append({"person": pid, "address": aid, "from": born, "to": None})
    await write_batch(graph, batch)

    async def found(keys: BlockingKeys) -> tuple[list[str], bool]:
        async def read(tx: Tx) -> tuple[list[Candidate], bool]:
            return await find_candidates(tx, keys, "test|none")

        candidates, truncated = await graph.read(read)
        return [c.person_id for c in candidates], truncated

    given, fam = name_key("Ottoline"), name_key(family)
    for keys in (
        BlockingKeys(born, None, None, None),
        BlockingKeys(None, postcode, None, None),
        BlockingKeys(None, None, fam, given),
        BlockingKeys(None, postcode, fam, given),
        BlockingKeys(born, postcode, fam, given),
    ):
        ids, truncated = await found(keys)
        assert pid in ids and not truncated, keys

    async def by_postcode(tx: Tx) -> tuple[list[Candidate], bool]:
        return await find_candidates(tx, BlockingKeys(None, postcode, None, None), "test|none")

    [only] = (await graph.read(by_postcode))[0]
    assert (only.person_id, only.record.postcode, only.record.date_of_birth) == (pid, postcode, born.isoformat())
    assert await found(BlockingKeys(None, None, None, given)) == ([], False)  # a given name alone is no key
    assert await found(BlockingKeys(None, None, None, None)) == ([], False)
