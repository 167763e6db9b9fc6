"""Import rate against the server's raw batched-write rate, same server, same run.

    python -m bench.imports [--people 20000] [--rounds 5] [--batch 2000] [--heap 2g]

1. Starts a fresh embedded graph (`--data-dir`, default .data/bench-import, is emptied first) and
   applies the migrations, so every constraint and index the hub keeps is in place for both writers.
   A small raw write (its own seed) warms the server up.
2. Then `--rounds` rounds, each of `--people / --rounds` people for each writer, alternating so that
   load from elsewhere on the machine falls on both alike. Each writer gets a JSON Lines extract of its
   own households (own seed: other NINOs) with addresses, claims, parents and partners by NINO:
   * raw: the very nodes, properties and relationships `hub import` would write for its extract (built
     with the importer's own row code before the clock starts), written with plain CREATEs in batches
     of `--batch`, nothing validated or checked (`graph.bulk.raw_write`), then the links (each
     partnership once) in batches of `--batch`;
   * import: `hub import`'s `Importer` on its extract: reading and row-by-row validation, the check of
     which NINOs the graph holds, the links, a checkpoint per batch.

Prints people/s for each (over all rounds), import ÷ raw overall and by round, the CPU each writer
cost this process and the graph server per 1,000 people (what the ratio is made of, and steadier than
wall time on a busy machine), the graph server's heap setting and peak RSS, and this process's peak RSS
(the importer streams: memory is bounded by the batch, not the file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.caseworker import BenchError, graph_server_pid
from bench.run import peak_rss_mb
from graph.bulk import Batch, ImportBatch, raw_links, raw_write
from graph.driver import Graph
from graph.migrations import migrate
from hub.app import connect_graph
from hub.embedded import EmbeddedError
from hub.importer import Importer, add_row, parse_row
from hub.seed import HouseholdGenerator
from hub.services import running_services
from hub.settings import SettingsError, load_settings

IMPORT_SEED, RAW_SEED, WARM_UP_SEED = 11, 12, 14


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def extract_rows(batch: Batch) -> Iterator[dict[str, Any]]:
    """The people of a seed batch as extract rows (what `hub import` reads)."""
    nino = {p["id"]: p["props"]["nino"] for p in batch.people}
    addresses = {a["id"]: a["props"] for a in batch.addresses}
    parents: dict[str, list[str]] = {}
    for link in batch.parent_of:
        parents.setdefault(link["b"], []).append(nino[link["a"]])
    partner = {link["a"]: nino[link["b"]] for link in batch.partner_of}
    partner.update({link["b"]: nino[link["a"]] for link in batch.partner_of})
    homes: dict[str, list[dict[str, Any]]] = {}
    for r in batch.residences:
        address = {k: v for k, v in addresses[r["address"]].items() if v is not None}
        homes.setdefault(r["person"], []).append({**address, "from": _iso(r["from"]), "to": _iso(r["to"])})
    claims: dict[str, list[dict[str, Any]]] = {}
    for c in batch.claims:
        claims.setdefault(c["person"], []).append({"id": c["id"], **{k: _iso(v) for k, v in c["props"].items()}})
    for p in batch.people:
        props, pid = p["props"], p["id"]
        row: dict[str, Any] = {
            "nino": props["nino"],
            "id": pid,
            "givenName": props["givenName"],
            "familyName": props["familyName"],
            "dateOfBirth": _iso(props["dateOfBirth"]),
            "addresses": homes.get(pid, []),
            "claims": claims.get(pid, []),
        }
        if pid in parents:
            row["parents"] = parents[pid]
        if pid in partner:
            row["partner"] = partner[pid]
        yield row


def households(generator: HouseholdGenerator, start: int, people: int, size: int) -> Iterator[tuple[Batch, int]]:
    """Seed batches of about `size` people from household `start` on, until `people` people;
    yields (batch, next household number)."""
    h, total = start, 0
    while total < people:
        batch = Batch(key="")
        count = 0
        while count < size and total + count < people:
            count += generator.household(h, batch)
            h += 1
        total += count
        yield batch, h


def write_extract(path: Path, generator: HouseholdGenerator, start: int, people: int) -> tuple[int, int]:
    """An extract of `people` people from household `start` on; returns (rows, next household)."""
    written, after = 0, start
    with path.open("wb") as fh:
        for batch, after in households(generator, start, people, 2000):  # noqa: B007 (read after the loop)
            for row in extract_rows(batch):
                fh.write(orjson.dumps(row) + b"\n")
                written += 1
    return written, after


def raw_batches(path: Path, size: int) -> tuple[list[ImportBatch], list[dict[str, Any]]]:
    """What `hub import` would write for the extract at `path`, as raw write batches of `size` people, and
    its household links with each partnership once: the same nodes, properties and relationships as the
    import makes (a fair baseline), built before the clock starts."""
    now = datetime.now(UTC)
    batches: list[ImportBatch] = []
    links: list[dict[str, Any]] = []
    batch = ImportBatch()
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, 1):
            add_row(batch, parse_row(raw), now, line)
            if len(batch.people) >= size:
                batches.append(batch)
                batch = ImportBatch()
    if batch.people:
        batches.append(batch)
    for b in batches:
        links += [x for x in b.links if x["kind"] == "PARENT_OF" or x["a"] < x["b"]]
    return batches, links


async def raw_round(graph: Graph, extract: Path, size: int, tally: Tally) -> int:
    """Raw-write the people of `extract` (plain CREATEs in batches of `size`, then the links in batches of
    `size`) into `tally`; returns the people written. Building the rows is left out of the time; reading
    and validating the file is part of the import's."""
    batches, links = raw_batches(extract, size)
    written = 0
    with tally.clock():
        for batch in batches:
            await raw_write(graph, batch)
            written += len(batch.people)
        for i in range(0, len(links), size):
            await raw_links(graph, links[i : i + size])
    tally.people += written
    return written


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of process `pid` so far; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Tally:
    """One writer's people, wall time, and CPU time of this process and of the graph server."""

    server_pid: int | None
    people: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0

    @contextlib.contextmanager
    def clock(self) -> Iterator[None]:
        wall, cpu, server = time.perf_counter(), time.process_time(), _cpu_seconds(self.server_pid)
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.server_cpu += _cpu_seconds(self.server_pid) - server

    @property
    def rate(self) -> float:
        return self.people / self.seconds if self.seconds else 0.0


async def run(graph: Graph, args: argparse.Namespace, console: Console, server_pid: int | None) -> dict[str, Tally]:
    """Rounds alternating raw and import, so that load from elsewhere falls on both alike."""
    await migrate(graph)
    importing, raw = HouseholdGenerator(IMPORT_SEED), HouseholdGenerator(RAW_SEED)
    warm_up = args.data_dir / "warm-up.jsonl"
    write_extract(warm_up, HouseholdGenerator(WARM_UP_SEED), 0, min(2000, args.people))
    await raw_round(graph, warm_up, args.batch, Tally(server_pid))
    per_round = max(1, args.people // args.rounds)
    tallies = {"raw": Tally(server_pid), "import": Tally(server_pid)}
    bad, ratios = 0, []
    next_import = next_raw = 0
    for r in range(args.rounds):
        raw_extract = args.data_dir / f"raw-{r}.jsonl"
        _, next_raw = write_extract(raw_extract, raw, next_raw, per_round)
        one = Tally(server_pid)
        await raw_round(graph, raw_extract, args.batch, one)
        extract = args.data_dir / f"extract-{r}.jsonl"
        _, next_import = write_extract(extract, importing, next_import, per_round)
        importer = Importer(
            graph,
            extract,
            args.data_dir / f"import-{r}.checkpoint.json",
            args.data_dir / f"import-{r}.bad.jsonl",
            batch_size=args.batch,
        )
        two = Tally(server_pid)
        with two.clock():
            outcome = await importer.run()
        cp = outcome.checkpoint
        two.people = cp.rows
        bad += cp.bad + cp.link_errors
        for name, tally in (("raw", one), ("import", two)):
            total = tallies[name]
            total.people += tally.people
            total.seconds += tally.seconds
            total.cpu += tally.cpu
            total.server_cpu += tally.server_cpu
        ratios.append(two.rate / one.rate)
        console.print(
            f"round {r + 1}/{args.rounds}: raw {one.rate:,.0f} people/s, import {two.rate:,.0f} people/s "
            f"({ratios[-1]:.2f})"
        )
    args.bad_rows, args.ratios = bad, ratios
    return tallies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="people per writer (default 20000)")
    parser.add_argument("--batch", type=int, default=2000, help="people per transaction (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of raw and import (default 5)")
    parser.add_argument("--heap", default="2g", help="embedded graph heap, -Xmx (default 2g)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench-import"), help="emptied first")
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    try:
        shutil.rmtree(args.data_dir, ignore_errors=True)
        args.data_dir.mkdir(parents=True)
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        with running_services(settings, cache=False) as live:
            graph = connect_graph(live)
            java = graph_server_pid()

            async def go() -> dict[str, Tally]:
                try:
                    return await run(graph, args, console, java)
                finally:
                    await graph.close()

            tallies = asyncio.run(go())
            graph_rss = peak_rss_mb(java) if java else None
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    raw = tallies["raw"]
    table = Table(
        title=f"import vs raw batched writes: batches of {args.batch:,}, graph heap -Xmx{args.heap}",
        title_justify="left",
    )
    columns = ("writer", "people", "seconds", "people/s", "÷ raw", "hub CPU ms/1k", "graph CPU ms/1k", "note")
    for col in columns:
        table.add_column(col, justify="left" if col in ("writer", "note") else "right")
    labels = {"raw": "raw (plain CREATEs)", "import": "import (validated, checked, links)"}
    for name, t in tallies.items():
        note = f"{args.bad_rows} bad rows" if name == "import" else "same rows, nothing checked"
        table.add_row(
            labels[name],
            f"{t.people:,}",
            f"{t.seconds:.1f}",
            f"{t.rate:,.0f}",
            f"{t.rate / raw.rate:.2f}",
            f"{1000 * 1000 * t.cpu / t.people:,.0f}",
            f"{1000 * 1000 * t.server_cpu / t.people:,.0f}" if java else "-",
            note,
        )
    console.print(table)
    ratios = sorted(args.ratios)
    console.print(
        f"import ÷ raw by round: {', '.join(f'{x:.2f}' for x in args.ratios)} "
        f"(median {ratios[len(ratios) // 2]:.2f}). CPU is per 1,000 people: this process (hub CPU) and the "
        "graph server's java process, each measured over the writer's own time."
    )
    me = _self_peak_mb()
    console.print(
        f"peak RSS: graph server {graph_rss or 0:,.0f} MB (heap -Xmx{args.heap}), this process {me:,.0f} MB. "
        "Both writers run in this process through the same driver, in alternating rounds.",
    )
    return 0


def _self_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
