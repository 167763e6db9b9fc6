"""Bulk linking (`hub identities link`): a generated extract with malformed lines, against the real graph.

Counts, refusals by line number, idempotency (a second pass makes no link), and resuming after an
interruption from the checkpoint; the command itself end to end in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench.linkage import Trained
from graph.driver import Graph
from graph.identity import people_for_identities
from graph.linkage.resolver import Resolver
from hub.linkage import load_config, save_model
from hub.linking import BulkReport, CheckpointError, link_file
from hub.settings import Settings

CONFIG = Path(__file__).resolve().parents[2] / "config" / "linkage.yaml"
RECORDS = 120

# Malformed lines, written after the first few good ones: (line text, what the refusal must say).
BAD: list[tuple[bytes, str]] = [
    (b"{not json", "not JSON"),
    (b'["a", "list"]', "not a JSON object"),
    (b'{"givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-03"}', "id: is required"),
    (b'{"id": "bad-date", "givenName": "Ann", "familyName": "Lee", "dateOfBirth": "1980-02-30"}', "dateOfBirth"),
    (b'{"id": "no-family", "givenName": "Ann", "dateOfBirth": "1980-02-03"}', "familyName: is required"),
    (
        b'{"id": "nino", "givenName": "Ann", "familyName": "Lee", "postcode": "SW1A 1AA", "verified": {"nino": "x"}}',
        "verified.nino",
    ),
    (b'{"id": "\xff\xfe", "givenName": "Ann"}', "not UTF-8"),
]


def write_extract(path: Path, trained: Trained, prefix: str) -> dict[int, str]:
    """Good records of the labelled set with the BAD lines among them (and a blank line); the expected
    refusals by line number. The first good record appears again at the end: a duplicate id."""
    cases = trained.labelled.external[:RECORDS]
    lines: list[bytes] = []
    refused: dict[int, str] = {}
    for i, case in enumerate(cases):
        lines.append(json.dumps({"id": f"{prefix}{case.external_id}", **case.fields}).encode())
        if i == 4:
            lines.append(b"   ")
            for text, why in BAD:
                lines.append(text)
                refused[len(lines)] = why
    lines.append(lines[0])
    refused[len(lines)] = "appears twice (first on line 1)"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return refused


@pytest.fixture
def resolver(graph: Graph, register: Trained) -> Resolver:
    return Resolver(graph, register.model, load_config(CONFIG).thresholds, actor="bulk:test")


@pytest.fixture
def source() -> str:
    return f"bulk-{uuid.uuid4().hex[:8]}"


def check_refusals(report: BulkReport, expected: dict[int, str]) -> None:
    assert [n for n, _ in report.refused] == sorted(expected)
    for line, why in report.refused:
        assert expected[line] in why, (line, why)


async def linked_people(graph: Graph, source: str, ids: list[str]) -> dict[str, str | None]:
    return dict(zip(ids, await people_for_identities(graph, source, ids), strict=True))


async def test_an_extract_is_linked_with_counts_and_refusals_and_a_second_pass_links_nothing(
    graph: Graph, resolver: Resolver, register: Trained, tmp_path: Path, source: str
) -> None:
    extract = tmp_path / "extract.jsonl"
    expected = write_extract(extract, register, "")
    checkpoint = tmp_path / "checkpoint.json"
    seen: list[int] = []

    report = await link_file(
        resolver, extract, source, checkpoint=checkpoint, batch_size=25, progress=lambda r, size: seen.append(r.offset)
    )
    c = report.counts
    assert report.complete and report.resumed_from == 0
    assert c.rows == RECORDS + len(BAD) + 1 == report.rows_this_run
    check_refusals(report, expected)
    assert c.refused == len(expected) and c.already_linked == 0
    assert c.auto_linked > RECORDS * 0.6 and c.auto_linked + c.queued + c.unmatched == RECORDS
    assert seen == sorted(seen) and seen[-1] == report.offset and len(seen) >= 5  # progress after every batch

    # what the counts say is what the graph holds: automatic links to the labelled person
    cases = register.labelled.external[:RECORDS]
    people = await linked_people(graph, source, [c.external_id for c in cases])
    truth = {c.external_id: c.person_id for c in cases}
    linked = {x: p for x, p in people.items() if p is not None}
    assert len(linked) == c.auto_linked
    assert sum(1 for x, p in linked.items() if p != truth[x]) == 0

    # the same file again: already done (the checkpoint), and read again from the start, still no new link
    again = await link_file(resolver, extract, source, checkpoint=checkpoint)
    assert again.complete and again.rows_this_run == 0 and again.counts == c
    redo = await link_file(resolver, extract, source, checkpoint=checkpoint, restart=True)
    assert redo.counts.auto_linked == 0 and redo.counts.already_linked == c.auto_linked
    assert (redo.counts.queued, redo.counts.unmatched, redo.counts.refused) == (c.queued, c.unmatched, c.refused)
    assert await linked_people(graph, source, [c.external_id for c in cases]) == people


class Interrupted(Exception):
    pass


async def test_an_interrupted_run_resumes_after_the_last_batch(
    graph: Graph, resolver: Resolver, register: Trained, tmp_path: Path, source: str
) -> None:
    extract = tmp_path / "extract.jsonl"
    expected = write_extract(extract, register, "")
    checkpoint = tmp_path / "checkpoint.json"
    batches = 0

    def stop_after_two(report: BulkReport, size: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await link_file(resolver, extract, source, checkpoint=checkpoint, batch_size=30, progress=stop_after_two)
    saved = json.loads(checkpoint.read_text())
    assert saved["complete"] is False and saved["counts"]["auto_linked"] > 0
    reached = saved["line"]

    resumed = await link_file(resolver, extract, source, checkpoint=checkpoint, batch_size=30)
    assert resumed.complete and resumed.resumed_from == reached
    assert resumed.rows_this_run == RECORDS + len(BAD) + 1 - sum(saved["counts"].values())
    check_refusals(resumed, expected)  # refusals before the interruption are kept, the duplicate still caught
    assert resumed.counts.rows == RECORDS + len(BAD) + 1 and resumed.counts.already_linked == 0

    # the same file linked in one go under another source gives the same counts
    whole = await link_file(resolver, extract, source + "-x", checkpoint=tmp_path / "other.json")
    assert whole.counts == resumed.counts


async def test_a_changed_file_or_another_source_is_not_resumed(
    resolver: Resolver, register: Trained, tmp_path: Path, source: str
) -> None:
    extract = tmp_path / "extract.jsonl"
    write_extract(extract, register, "")
    checkpoint = tmp_path / "checkpoint.json"
    with pytest.raises(Interrupted):

        def stop(report: BulkReport, size: int) -> None:
            raise Interrupted

        await link_file(resolver, extract, source, checkpoint=checkpoint, batch_size=10, progress=stop)
    with pytest.raises(CheckpointError, match="not 'elsewhere'"):
        await link_file(resolver, extract, "elsewhere", checkpoint=checkpoint)
    extract.write_bytes(b'{"id": "changed", "givenName": "Ann"}\n' + extract.read_bytes())
    with pytest.raises(CheckpointError, match="changed since line"):
        await link_file(resolver, extract, source, checkpoint=checkpoint)
    checkpoint.write_text("{garbage")
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        await link_file(resolver, extract, source, checkpoint=checkpoint)
    restarted = await link_file(resolver, extract, source, checkpoint=checkpoint, restart=True)
    assert restarted.complete and restarted.refused[0] == (1, restarted.refused[0][1])


# --- the command -----------------------------------------------------------------------------------


def hub(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def command_env(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    assert settings.neo4j_password is not None
    return {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_USER": settings.neo4j_user,
        "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        "NEO4J_DATABASE": settings.neo4j_database or "",
        "HUB_DATA_DIR": str(tmp_path / "data"),
    }


def test_the_command_prints_counts_and_refused_lines_and_resumes(
    settings: Settings, register: Trained, tmp_path: Path
) -> None:
    config = tmp_path / "linkage.yaml"
    config.write_text(f"thresholds: {{auto_link_bits: 22, review_bits: 11}}\nmodels_dir: {tmp_path / 'models'}\n")
    save_model(register.document, tmp_path / "models")
    extract = tmp_path / "social-extract.jsonl"
    expected = write_extract(extract, register, f"cli-{uuid.uuid4().hex[:6]}-")
    env = command_env(settings, tmp_path)
    args = ["identities", "link", "--connector", "social", "--config", str(config), str(extract)]

    first = hub(args, env)
    assert first.returncode == 0, first.stderr
    for line, why in expected.items():
        assert f"{extract}:{line}: " in first.stderr and why in first.stderr
    counts = first.stdout.strip().splitlines()[-1].split(";")[0]
    assert counts.startswith("social: auto-linked ") and counts.endswith(f"refused {len(expected)}")
    assert "already linked 0" in counts

    again = hub(args, env)
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stderr and again.stdout.strip().splitlines()[-1].startswith(counts)

    redo = hub([*args, "--restart"], env)
    assert redo.returncode == 0, redo.stderr
    assert "social: auto-linked 0," in redo.stdout

    unknown = hub(["identities", "link", "--connector", "nope", "--config", str(config), str(extract)], env)
    assert unknown.returncode == 2 and "no connector named 'nope'" in unknown.stderr
    missing = hub(["identities", "link", "--connector", "social", "--config", str(config), "missing.jsonl"], env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
