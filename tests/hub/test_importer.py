"""`hub import`: bad rows reported by line, nothing of them written; resumable; idempotent; the CLI end to end."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import MakePerson
from hypothesis import given
from hypothesis import strategies as st
from support import random_nino, unique_family

from graph.driver import Graph, Tx
from hub.importer import NAMESPACE, Checkpoint, Importer, ImportFailed, fingerprint, name_id
from hub.settings import Settings


def person(nino: str, family: str, given: str = "Ann", **extra: Any) -> dict[str, Any]:
    row = {"nino": nino, "givenName": given, "familyName": family, "dateOfBirth": "1980-02-01"}
    row.update(extra)
    return row


def household(family: str) -> list[dict[str, Any]]:
    """Two partners and a child listed BEFORE its parents (links are made in the second pass)."""
    mum, dad, kid = random_nino(), random_nino(), random_nino()
    home = {"line1": "1 High Street", "town": "Leeds", "postcode": "ls11aa", "from": "2015-01-01"}
    claim = {"type": "CHILD_BENEFIT", "status": "ACTIVE", "startDate": "2021-02-01", "amountPence": 10200}
    return [
        person(kid, family, "Kid", dateOfBirth="2015-03-04", parents=[mum, dad], addresses=[home]),
        person(mum, family, "Mum", partner=dad, addresses=[home], claims=[claim]),
        person(dad, family, "Dad", partner=mum, addresses=[home]),
    ]


def write_lines(path: Path, rows: list[Any]) -> Path:
    with path.open("wb") as fh:
        for row in rows:
            fh.write((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n")
    return path


async def state(graph: Graph, family: str) -> dict[str, int]:
    """What the graph holds for people of `family`: counts that a duplicate write would change."""

    async def work(tx: Tx) -> dict[str, int]:
        row = await tx.fetch_one(
            "MATCH (p:Person) WHERE p.familyName = $f "
            "RETURN count(p) AS people, count(DISTINCT p.nino) AS ninos, "
            "sum(COUNT { (p)-[:HAS_CLAIM]->() }) AS claims, sum(COUNT { (p)-[:LIVES_AT]->() }) AS homes, "
            "sum(COUNT { (p)-[:PARENT_OF]->() }) AS parent_of, sum(COUNT { (p)-[:PARTNER_OF]->() }) AS partner_of",
            {"f": family},
        )
        assert row is not None
        return {k: int(v) for k, v in row.items()}

    return await graph.read(work)


def importer(graph: Graph, source: Path, tmp: Path, **kw: Any) -> Importer:
    return Importer(graph, source, tmp / "cp.json", tmp / "bad.jsonl", **kw)


async def test_bad_rows_are_reported_by_line_and_never_written(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    good = household(family)
    taken = random_nino()
    rows: list[Any] = [
        *good,  # lines 1-3
        b"{not json",  # 4
        person("AB12", family),  # 5: bad NINO
        person(random_nino(), family, dateOfBirth="2999-01-01"),  # 6: born in the future
        person(random_nino(), family, shoeSize=9),  # 7: unknown field
        person(random_nino(), family, addresses=[{"line1": "x", "town": "y", "postcode": "NOT A POSTCODE"}]),  # 8
        person(
            random_nino(),
            family,
            claims=[{"type": "UC", "status": "ACTIVE", "startDate": "2020-01-01", "amountPence": -5}],
        ),  # 9
        b"",  # 10: blank, skipped silently
        person(taken, family, "First"),  # 11
        person(taken, family, "Second"),  # 12: same NINO again in the batch
        person(random_nino(), family, "Lonely", parents=[random_nino()]),  # 13: parent nobody holds
        b"[1, 2]",  # 14
    ]
    source = write_lines(tmp_path / "people.jsonl", rows)
    outcome = await importer(graph, source, tmp_path, batch_size=100).run()

    reasons = {b.line: b.reason for b in outcome.bad_rows}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 12, 13, 14]
    assert "not valid JSON" in reasons[4]
    assert reasons[5].startswith("nino: ")
    assert reasons[6] == "dateOfBirth: must not be in the future"
    assert reasons[7].startswith("shoeSize: ")
    assert reasons[8].startswith("addresses.0.postcode: ")
    assert reasons[9].startswith("claims.0.amountPence: ")
    assert reasons[12] == "nino: repeats line 11"
    assert "is not in the graph" in reasons[13]
    assert reasons[14] == "expected a JSON object"
    report = [orjson.loads(line) for line in (tmp_path / "bad.jsonl").read_bytes().splitlines()]
    assert sorted(r["line"] for r in report) == sorted(reasons)

    cp = outcome.checkpoint
    assert (cp.rows, cp.created, cp.present, cp.bad, cp.link_errors, cp.phase) == (5, 5, 0, 8, 1, "done")
    # 3 + First + Lonely; the child's two parents, one partnership stored once, one claim, three homes.
    assert await state(graph, family) == {
        "people": 5,
        "ninos": 5,
        "claims": 1,
        "homes": 3,
        "parent_of": 2,
        "partner_of": 1,
    }


async def test_a_row_conflicting_with_a_stored_record_is_refused_alone(
    graph: Graph, tmp_path: Path, make_person: MakePerson
) -> None:
    family = unique_family()
    stored = await make_person(family_name=family)
    rows = [
        person(random_nino(), family, "Before"),
        person(random_nino(), family, "Thief", id=stored.id),  # another NINO under a stored person's id
        person(random_nino(), family, "After"),
    ]
    source = write_lines(tmp_path / "people.jsonl", rows)
    outcome = await importer(graph, source, tmp_path, batch_size=10).run()
    assert [(b.line, b.reason) for b in outcome.bad_rows] == [
        (2, "conflicts with a stored record (its id belongs to another person)")
    ]
    assert (outcome.checkpoint.rows, outcome.checkpoint.created) == (2, 2)
    assert (await state(graph, family))["people"] == 3  # the stored one and the two good rows


async def test_a_rerun_changes_nothing(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    source = write_lines(tmp_path / "people.jsonl", household(family) + household(family))
    first = await importer(graph, source, tmp_path, batch_size=2).run()
    before = await state(graph, family)
    again = await importer(graph, source, tmp_path, batch_size=4, restart=True).run()
    assert (first.checkpoint.created, again.checkpoint.created, again.checkpoint.present) == (6, 0, 6)
    assert (
        await state(graph, family)
        == before
        == {"people": 6, "ninos": 6, "claims": 2, "homes": 6, "parent_of": 4, "partner_of": 2}
    )
    # A finished import run again without --restart does nothing at all.
    done = await importer(graph, source, tmp_path).run()
    assert done.resumed_at_line is None and done.already_done and not again.already_done
    assert await state(graph, family) == before


class Interrupt(Exception):
    pass


async def test_an_interrupted_import_resumes_where_it_stopped(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    rows = [r for _ in range(5) for r in household(family)]  # 15 people
    source = write_lines(tmp_path / "people.jsonl", rows)
    saved: list[Checkpoint] = []
    spools: list[bytes] = []

    def stop_after_two(cp: Checkpoint) -> None:
        saved.append(Checkpoint(**{k: getattr(cp, k) for k in cp.__slots__}))
        spools.append((tmp_path / "cp.links.jsonl").read_bytes())
        if len(saved) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        await importer(graph, source, tmp_path, batch_size=4, on_batch=stop_after_two).run()
    assert (await state(graph, family))["people"] == 8  # two batches committed, the rest not started

    resumed = await importer(graph, source, tmp_path, batch_size=4).run()
    assert resumed.resumed_at_line == 8
    assert resumed.checkpoint.rows == 15 and resumed.checkpoint.created == 15
    full = {"people": 15, "ninos": 15, "claims": 5, "homes": 15, "parent_of": 10, "partner_of": 5}
    assert await state(graph, family) == full

    # A crash after a commit but before its checkpoint: resuming from the older checkpoint rewrites
    # that batch, which MERGE makes harmless.
    saved[0].save(tmp_path / "cp.json")
    (tmp_path / "bad.jsonl").write_bytes(b"")
    (tmp_path / "cp.links.jsonl").write_bytes(spools[1])  # the crash came after the second batch's spool
    again = await importer(graph, source, tmp_path, batch_size=4).run()
    assert again.resumed_at_line == 4
    assert await state(graph, family) == full


async def test_a_changed_file_is_not_resumed_from_a_stale_checkpoint(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    source = write_lines(tmp_path / "people.jsonl", household(family) * 1)

    def stop(cp: Checkpoint) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        await importer(graph, source, tmp_path, batch_size=1, on_batch=stop).run()
    write_lines(source, household(family))
    with pytest.raises(ImportFailed, match="changed since; pass --restart"):
        await importer(graph, source, tmp_path).run()


def test_the_command_imports_reports_and_exits_non_zero_on_bad_rows(settings: Settings, tmp_path: Path) -> None:
    family = unique_family()
    source = write_lines(tmp_path / "people.jsonl", [*household(family), person("AB12", family)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "REDIS_", "HUB_"))}
    env.update(
        NEO4J_URI=settings.neo4j_uri or "",
        NEO4J_USER=settings.neo4j_user,
        NEO4J_PASSWORD=settings.neo4j_password.get_secret_value() if settings.neo4j_password else "",
        NEO4J_DATABASE=settings.neo4j_database or "",
        HUB_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="200",
    )
    command = [sys.executable, "-m", "hub.cli", "import", str(source), "--batch", "2"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 3, first.stderr
    assert "line 4: nino: " in first.stdout
    assert "imported 3 people (3 new, 0 already present), 4 links" in first.stdout, first.stdout  # partner: both rows
    assert "1 bad rows, listed in" in first.stdout
    report = next((tmp_path / "data" / "imports").glob("*.bad.jsonl"))
    assert [orjson.loads(line)["line"] for line in report.read_bytes().splitlines()] == [4]
    rerun = subprocess.run([*command, "--restart"], env=env, capture_output=True, text=True, timeout=120)
    assert "imported 3 people (0 new, 3 already present)" in rerun.stdout, rerun.stdout + rerun.stderr
    shutil.rmtree(tmp_path / "data")


async def test_imported_people_carry_the_name_keys_search_and_identity_blocking_read(
    graph: Graph, tmp_path: Path
) -> None:
    family = unique_family()
    nino = random_nino()
    source = write_lines(tmp_path / "people.jsonl", [person(nino, family, "Siân")])
    await importer(graph, source, tmp_path).run()

    async def work(tx: Tx) -> dict[str, Any] | None:
        return await tx.fetch_one(
            "MATCH (p:Person {nino: $n}) RETURN p.givenNameKey AS g, p.familyNameKey AS f, p.fullNameKey AS k",
            {"n": nino},
        )

    keys = await graph.read(work)
    assert keys == {"g": "SIAN", "f": family.upper(), "k": f"{family.upper()}|SIAN"}


# ----------------------------------------------------------------------------------------------------
# Issue 13 (import speed): links in the batch's transaction, the unchecked first load, the pipeline
# ----------------------------------------------------------------------------------------------------


async def test_a_first_load_batch_is_one_transaction_of_plain_writes_with_its_links(
    graph: Graph, tmp_path: Path
) -> None:
    family = unique_family()
    source = write_lines(tmp_path / "people.jsonl", household(family))  # the child names parents listed after it
    before = graph.stats.round_trips
    outcome = await importer(graph, source, tmp_path, batch_size=3).run()
    # people, addresses, homes, claims, PARENT_OF, PARTNER_OF: no question of which NINOs exist, no link pass
    assert graph.stats.round_trips - before == 6
    assert (outcome.checkpoint.created, outcome.checkpoint.links) == (3, 4)
    assert not (tmp_path / "cp.links.jsonl").exists()  # the spool of forward references is gone when done
    assert await state(graph, family) == {
        "people": 3,
        "ninos": 3,
        "claims": 1,
        "homes": 3,
        "parent_of": 2,
        "partner_of": 1,
    }


async def test_stored_people_met_in_a_later_batch_are_merged_not_duplicated(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    old = household(family)
    await importer(graph, write_lines(tmp_path / "old.jsonl", old), tmp_path / "old").run()
    new = household(family)
    # batch 1: all new (written unchecked); batch 2: a stored person among new ones; batch 3: new again
    rows = [*new, old[1], person(random_nino(), family, "Extra", partner=old[1]["nino"]), *household(family)]
    outcome = await importer(graph, write_lines(tmp_path / "people.jsonl", rows), tmp_path, batch_size=3).run()
    cp = outcome.checkpoint
    assert (cp.rows, cp.created, cp.present, cp.bad, cp.link_errors) == (8, 7, 1, 0, 0)
    held = await state(graph, family)
    assert held["people"] == held["ninos"] == 10
    assert (held["claims"], held["homes"], held["parent_of"]) == (3, 9, 6)  # Extra has no address
    assert held["partner_of"] == 4  # the stored partnership still once; Extra's with the stored mum added


async def test_a_checkpoint_of_the_older_format_is_refused_with_the_way_out(graph: Graph, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "people.jsonl", household(unique_family()))
    size, head = fingerprint(source)
    old = Checkpoint(file=str(source.resolve()), size=size, head=head, phase="links", offset=10, line=1)
    data = {k: getattr(old, k) for k in old.__slots__ if k not in ("spool_offset", "version")}
    (tmp_path / "cp.json").write_bytes(orjson.dumps(data))
    with pytest.raises(ImportFailed, match="another version of hub import; pass --restart"):
        await importer(graph, source, tmp_path).run()


async def test_an_import_cancelled_with_a_write_in_flight_resumes_without_loss_or_duplicates(
    graph: Graph, tmp_path: Path
) -> None:
    family = unique_family()
    rows = [r for _ in range(30) for r in household(family)]  # 90 people, children before their parents
    source = write_lines(tmp_path / "people.jsonl", rows)
    run: asyncio.Task[Any] | None = None
    saves: list[int] = []

    def cancel_soon(cp: Checkpoint) -> None:
        saves.append(cp.line)
        if len(saves) == 3:  # the next batch's write is started right after this checkpoint, then cancelled
            assert run is not None
            asyncio.get_running_loop().call_soon(run.cancel)

    run = asyncio.ensure_future(importer(graph, source, tmp_path, batch_size=10, on_batch=cancel_soon).run())
    with pytest.raises(asyncio.CancelledError):
        await run
    cut = await state(graph, family)
    assert cut["people"] == cut["ninos"] and cut["people"] % 10 == 0 and 30 <= cut["people"] < 90  # whole batches

    resumed = await importer(graph, source, tmp_path, batch_size=10).run()
    cp = resumed.checkpoint
    assert resumed.resumed_at_line == 30
    assert (cp.rows, cp.created + cp.present, cp.bad, cp.link_errors, cp.phase) == (90, 90, 0, 0, "done")
    assert cp.links == 30 * 4
    assert await state(graph, family) == {
        "people": 90,
        "ninos": 90,
        "claims": 30,
        "homes": 90,
        "parent_of": 60,
        "partner_of": 30,
    }


async def test_an_import_interrupted_in_the_link_pass_resumes_it(graph: Graph, tmp_path: Path) -> None:
    family = unique_family()
    rows = [r for _ in range(4) for r in household(family)]
    source = write_lines(tmp_path / "people.jsonl", rows)

    def stop_in_links(cp: Checkpoint) -> None:
        if cp.phase == "links" and cp.offset > 0:
            raise Interrupt

    # batches of one: each child's links and each first partner's wait for the second pass
    with pytest.raises(Interrupt):
        await importer(graph, source, tmp_path, batch_size=1, on_batch=stop_in_links).run()
    assert (await state(graph, family))["parent_of"] < 8

    resumed = await importer(graph, source, tmp_path, batch_size=1).run()
    assert (resumed.checkpoint.links, resumed.checkpoint.link_errors, resumed.checkpoint.phase) == (16, 0, "done")
    assert await state(graph, family) == {
        "people": 12,
        "ninos": 12,
        "claims": 4,
        "homes": 12,
        "parent_of": 8,
        "partner_of": 4,
    }


@given(st.text())
def test_name_ids_are_the_uuid5_of_the_name(name: str) -> None:
    assert name_id(name) == str(uuid.uuid5(NAMESPACE, name))


async def test_a_stored_person_in_a_late_part_of_a_batch_rolls_the_batch_back_then_merges(
    graph: Graph, tmp_path: Path
) -> None:
    family = unique_family()
    stored = person(random_nino(), family, "Stored")
    await importer(graph, write_lines(tmp_path / "old.jsonl", [stored]), tmp_path / "old").run()
    rows = [person(random_nino(), family, "New") for _ in range(599)]
    rows.insert(550, stored)  # in the third part of 250: the first two were already written unchecked
    outcome = await importer(graph, write_lines(tmp_path / "people.jsonl", rows), tmp_path, batch_size=1000).run()
    cp = outcome.checkpoint
    assert (cp.rows, cp.created, cp.present, cp.bad) == (600, 599, 1, 0)
    held = await state(graph, family)
    assert held["people"] == held["ninos"] == 600
