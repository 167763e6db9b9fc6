"""Import rate against the server's raw batched-write rate, same server, same run.

    python -m bench.imports [--people 20000] [--rounds 5] [--batch 2000] [--heap 2g] [--baseline REV]
                             [--rss-people N]

1. Starts a fresh embedded graph (`--data-dir`, default .data/bench-import, is emptied first) and
   applies the migrations, so every constraint and index the hub keeps is in place for both writers.
   A small raw write (its own seed) warms the server up.
2. Then `--rounds` rounds, each of `--people / --rounds` people for each writer, alternating so that
   load from elsewhere on the machine falls on both alike (each writer goes first in turn). Each
   writer gets a JSON Lines extract of its own households (own seed: other NINOs) with addresses,
   claims, parents and partners by NINO:
   * raw: the very nodes, properties and relationships `hub import` would write for its extract (built
     with the importer's own row code, all before the clock starts), written with plain CREATEs in batches
     of `--batch`, nothing validated or checked (`graph.bulk.raw_write`), then the links (each
     partnership once) in batches of `--batch`;
   * import: `hub import`'s `Importer` on its extract: reading and row-by-row validation, the NINO
     checks (the unique constraint on a first load), the links, a checkpoint per batch.
3. With `--baseline REV`, a third writer in each round: `hub import` as it was at git revision REV
   (extracted with git archive, run in a child process against the same server, timed around its
   `Importer.run()` only), on a third extract: a before/after in the same run.
4. With `--rss-people N`, after the rounds, the current `hub import` alone in a child process on ten
   batches, then on N people: its own peak RSS, flat whatever the file's size.

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
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.caseworker import BenchError, graph_server_pid
from bench.run import baseline_source, graph_env, peak_rss_mb
from graph.bulk import Batch, ImportBatch, raw_links, raw_write
from graph.driver import Graph
from graph.migrations import migrate
from hub.app import connect_graph
from hub.embedded import EmbeddedError
from hub.importer import Importer, add_row, parse_row
from hub.seed import HouseholdGenerator
from hub.services import running_services
from hub.settings import Settings, SettingsError, load_settings

IMPORT_SEED, RAW_SEED, WARM_UP_SEED, BEFORE_SEED, ALONE_SEED = 11, 12, 14, 15, 16
REPO = Path(__file__).resolve().parent.parent


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


def raw_batches(path: Path, size: int) -> Iterator[ImportBatch]:
    """What `hub import` would write for the extract at `path`, as raw write batches of `size` people: the
    same nodes, properties and relationships (with its links) as the import makes: a fair baseline."""
    batch = ImportBatch()
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, 1):
            add_row(batch, parse_row(raw), line)
            if len(batch.people) >= size:
                yield batch
                batch = ImportBatch()
    if batch.people:
        yield batch


async def raw_round(graph: Graph, extract: Path, size: int, tally: Tally) -> int:
    """Raw-write the people of `extract` (plain CREATEs in batches of `size`, then the links, each
    partnership once, in batches of `size`) into `tally`; returns the people written. Every batch is built
    before the clock starts, so the server is never left idle between two writes (it would catch up on
    its own work there, off the clock); reading and validating the file is part of the import's time."""
    batches = list(raw_batches(extract, size))
    links = [x for batch in batches for x in batch.links if x["kind"] == "PARENT_OF" or x["a"] < x["b"]]
    with tally.clock():
        for batch in batches:
            await raw_write(graph, batch)
        for i in range(0, len(links), size):
            await raw_links(graph, links[i : i + size])
    written = sum(len(batch.people) for batch in batches)
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
    peak_mb: float = 0.0  # peak RSS of a writer in its own process

    @contextlib.contextmanager
    def clock(self) -> Iterator[None]:
        wall, cpu, server = time.perf_counter(), time.process_time(), _cpu_seconds(self.server_pid)
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.server_cpu += _cpu_seconds(self.server_pid) - server

    def add(self, other: Tally) -> None:
        self.people += other.people
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.server_cpu += other.server_cpu
        self.peak_mb = max(self.peak_mb, other.peak_mb)

    @property
    def cpu_per_person(self) -> float:
        """Both processes' CPU seconds per person written."""
        return (self.cpu + self.server_cpu) / self.people if self.people else 0.0

    @property
    def rate(self) -> float:
        return self.people / self.seconds if self.seconds else 0.0


BEFORE_RUNNER = """
import asyncio, sys, time
from pathlib import Path

import orjson

from hub.app import connect_graph
from hub.importer import Importer
from hub.settings import load_settings


async def main(extract: str, checkpoint: str, report: str, batch: str) -> None:
    graph = connect_graph(load_settings())
    try:
        importer = Importer(graph, Path(extract), Path(checkpoint), Path(report), batch_size=int(batch))
        wall, cpu = time.perf_counter(), time.process_time()
        cp = (await importer.run()).checkpoint
        took, used = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await graph.close()
    with open("/proc/self/status") as fh:  # VmHWM: ru_maxrss would carry the parent's over fork and exec
        peak = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    figures = {"rows": cp.rows, "bad": cp.bad + cp.link_errors, "seconds": took, "cpu": used, "peak_mb": peak}
    print(orjson.dumps(figures).decode())


asyncio.run(main(*sys.argv[1:]))
"""


async def child_import(
    source: Path, env: dict[str, str], args: argparse.Namespace, extract: Path, name: str, tally: Tally
) -> int:
    """`hub import` of the tree at `source` in a child process on the same server; its own clock (Python
    start-up left out); the graph server's CPU is counted over the whole child. Returns bad rows."""
    here = args.data_dir.resolve()
    argv = [sys.executable, "-c", BEFORE_RUNNER, str(extract.resolve())]
    argv += [str(here / f"{name}.checkpoint.json"), str(here / f"{name}.bad.jsonl"), str(args.batch)]
    server = _cpu_seconds(tally.server_pid)
    done = await asyncio.to_thread(
        subprocess.run, argv, cwd=source, env=env | {"PYTHONPATH": str(source)}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"the import in a child process ({source}) failed:\n{done.stderr[-2000:]}")
    figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    tally.server_cpu += _cpu_seconds(tally.server_pid) - server
    tally.people += figures["rows"]
    tally.seconds += figures["seconds"]
    tally.cpu += figures["cpu"]
    tally.peak_mb = max(tally.peak_mb, figures["peak_mb"])
    return int(figures["bad"])


async def run(
    graph: Graph, args: argparse.Namespace, console: Console, server_pid: int | None, live: Settings
) -> dict[str, Tally]:
    """Rounds alternating the writers, so that load from elsewhere falls on each alike."""
    await migrate(graph)
    generators = {"raw": HouseholdGenerator(RAW_SEED), "import": HouseholdGenerator(IMPORT_SEED)}
    source = env = None
    if args.baseline:
        source, env = baseline_source(args.baseline, args.data_dir), graph_env(live)
        env["HUB_DATA_DIR"] = str((args.data_dir / "before").resolve())
        generators["before"] = HouseholdGenerator(BEFORE_SEED)
    warm_up = args.data_dir / "warm-up.jsonl"
    write_extract(warm_up, HouseholdGenerator(WARM_UP_SEED), 0, min(2000, args.people))
    await raw_round(graph, warm_up, args.batch, Tally(server_pid))
    per_round = max(1, args.people // args.rounds)
    tallies = {name: Tally(server_pid) for name in generators}
    after = dict.fromkeys(generators, 0)  # the next household of each writer's generator
    args.bad_rows = dict.fromkeys(generators, 0)
    args.ratios = {name: [] for name in generators}
    for r in range(args.rounds):
        rates: dict[str, float] = {}
        names = list(generators)
        for name in names[r % len(names) :] + names[: r % len(names)]:  # each writer goes first in turn
            generator = generators[name]
            extract = args.data_dir / f"{name}-{r}.jsonl"
            _, after[name] = write_extract(extract, generator, after[name], per_round)
            one = Tally(server_pid)
            if name == "raw":
                await raw_round(graph, extract, args.batch, one)
            elif name == "import":
                importer = Importer(
                    graph,
                    extract,
                    args.data_dir / f"import-{r}.checkpoint.json",
                    args.data_dir / f"import-{r}.bad.jsonl",
                    batch_size=args.batch,
                )
                with one.clock():
                    cp = (await importer.run()).checkpoint
                one.people = cp.rows
                args.bad_rows[name] += cp.bad + cp.link_errors
            else:
                assert source is not None and env is not None
                args.bad_rows[name] += await child_import(source, env, args, extract, f"before-{r}", one)
            tallies[name].add(one)
            rates[name] = one.rate
        for name in names:
            args.ratios[name].append(rates[name] / rates["raw"])
        console.print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{name} {rates[name]:,.0f} people/s ({rates[name] / rates['raw']:.2f})" for name in names)
        )
    if args.rss_people:
        args.rss = await alone(args, live, server_pid, console)
    return tallies


async def alone(
    args: argparse.Namespace, live: Settings, server_pid: int | None, console: Console
) -> list[tuple[int, Tally]]:
    """The current `hub import` alone in a child process, on ten batches and on `--rss-people` people: its
    own peak RSS, which the file's size should not move (the file is streamed)."""
    out = []
    env = graph_env(live) | {"HUB_DATA_DIR": str((args.data_dir / "alone").resolve())}
    generator, after = HouseholdGenerator(ALONE_SEED), 0
    for people in (10 * args.batch, args.rss_people):
        extract = args.data_dir / f"alone-{people}.jsonl"
        _, after = write_extract(extract, generator, after, people)
        tally = Tally(server_pid)
        await child_import(REPO, env, args, extract, f"alone-{people}", tally)
        console.print(f"alone: {tally.people:,} people at {tally.rate:,.0f} people/s, peak RSS {tally.peak_mb:,.0f} MB")
        out.append((people, tally))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="people per writer (default 20000)")
    parser.add_argument("--batch", type=int, default=2000, help="people per transaction (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the writers (default 5)")
    parser.add_argument("--heap", default="2g", help="embedded graph heap, -Xmx (default 2g)")
    parser.add_argument("--baseline", metavar="REV", help="also run `hub import` as it was at git revision REV")
    parser.add_argument(
        "--rss-people", type=int, default=0, metavar="N", help="also import N people alone, to show its peak RSS"
    )
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
                    return await run(graph, args, console, java, live)
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
    columns = ("writer", "people", "seconds", "people/s", "÷ raw", "median ÷ raw", "hub CPU ms/1k", "graph CPU ms/1k")
    columns += ("÷ raw by CPU",)
    for col in (*columns, "note"):
        table.add_column(col, justify="left" if col in ("writer", "note") else "right")
    labels = {
        "raw": "raw (plain CREATEs)",
        "import": "import (validated, checked, links)",
        "before": f"import at {args.baseline}",
    }
    for name, t in tallies.items():
        ratios = sorted(args.ratios[name])
        table.add_row(
            labels[name],
            f"{t.people:,}",
            f"{t.seconds:.1f}",
            f"{t.rate:,.0f}",
            f"{t.rate / raw.rate:.2f}",
            f"{ratios[len(ratios) // 2]:.2f}",
            f"{1000 * 1000 * t.cpu / t.people:,.0f}",
            f"{1000 * 1000 * t.server_cpu / t.people:,.0f}" if java else "-",
            f"{raw.cpu_per_person / t.cpu_per_person:.2f}" if java else "-",
            "same rows, nothing checked" if name == "raw" else f"{args.bad_rows[name]} bad rows",
        )
    console.print(table)
    console.print(
        "÷ raw is over all rounds; the median is of the rounds' own ratios. CPU is per 1,000 people: the "
        "writer's Python process (hub CPU) and the graph server's java process, each over the writer's time. "
        "÷ raw by CPU is raw's CPU per person (both processes) over the writer's: what the rate ratio tends to "
        "where the CPU is the limit (a busy machine); it does not credit the importer for running Python "
        "and the server at once on a quiet one."
    )
    console.print(
        f"peak RSS: graph server {graph_rss or 0:,.0f} MB (heap -Xmx{args.heap}), this process "
        f"{peak_rss_mb(os.getpid()) or 0:,.0f} MB (the import, and the raw writer's batches of one round)"
        + (f", the import at {args.baseline} {tallies['before'].peak_mb:,.0f} MB" if args.baseline else "")
        + ". The importer streams: its memory is bounded by the batch, not the file."
    )
    if args.rss_people:
        (_, one), (_, many) = args.rss
        console.print(
            f"`hub import` alone in its own process: {one.people:,} people, peak RSS {one.peak_mb:,.0f} MB; "
            f"{many.people:,} people, peak RSS {many.peak_mb:,.0f} MB ({many.rate:,.0f} people/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
