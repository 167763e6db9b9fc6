"""Import rate against the server's raw batched-write rate, same server, same run.

    python -m bench.imports [--people 20000] [--rounds 5] [--batch 2000] [--heap 2g]

1. Starts a fresh embedded graph (`--data-dir`, default .data/bench-import, is emptied first) and
   applies the migrations, so every constraint and index the hub keeps is in place for both writers.
   A small raw write (its own seed) warms the server up.
2. Then `--rounds` rounds, each of `--people / --rounds` people for each writer, alternating so that
   load from elsewhere on the machine falls on both alike:
   * raw: synthetic households (one seed) written with plain CREATEs in batches of `--batch`, nothing
     validated or checked (`graph.bulk.raw_write`), links in a second pass;
   * import: a JSON Lines extract of other households (another seed: other NINOs) with addresses,
     claims, parents and partners by NINO, loaded by `hub import`'s `Importer`: row-by-row validation,
     MERGE on the NINO, the second pass for links, a checkpoint per batch.

Prints people/s for each (over all rounds), import ÷ raw, the graph server's heap setting and peak RSS,
and this process's peak RSS (the importer streams: memory is bounded by the batch, not the file).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
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
from hub.importer import Importer
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


def raw_batches(
    generator: HouseholdGenerator, start: int, people: int, size: int
) -> Iterator[tuple[ImportBatch, list[dict[str, Any]], int]]:
    """Seed data as raw write batches of about `size` people, the links of each, and the next household."""
    for batch, h in households(generator, start, people, size):
        nino = {p["id"]: p["props"]["nino"] for p in batch.people}
        out = ImportBatch(
            people=[{"nino": p["props"]["nino"], "id": p["id"], "props": p["props"]} for p in batch.people],
            addresses=_addresses_with_nino(batch, nino),
            residences=[{**r, "nino": nino[r["person"]]} for r in batch.residences],
            claims=[{**c, "nino": nino[c["person"]]} for c in batch.claims],
        )
        links = [{"kind": "PARENT_OF", "a": nino[x["a"]], "b": nino[x["b"]]} for x in batch.parent_of]
        links += [{"kind": "PARTNER_OF", "a": nino[x["a"]], "b": nino[x["b"]]} for x in batch.partner_of]
        yield out, links, h


def _addresses_with_nino(batch: Batch, nino: dict[str, str]) -> list[dict[str, Any]]:
    """Each address once, with the NINO of the first person living there (raw rows carry one)."""
    first: dict[str, str] = {}
    for r in batch.residences:
        first.setdefault(r["address"], nino[r["person"]])
    return [{**a, "nino": first.get(a["id"], "")} for a in batch.addresses]


async def raw_round(
    graph: Graph, generator: HouseholdGenerator, start: int, people: int, size: int
) -> tuple[int, float, int]:
    """Raw-write `people` people from household `start`; returns (people, seconds, next household).
    Generating the rows is left out of the time, as reading the extract is part of the import's."""
    batches = list(raw_batches(generator, start, people, size))
    started = time.perf_counter()
    written, all_links = 0, []
    for batch, links, _ in batches:
        await raw_write(graph, batch)
        written += len(batch.people)
        all_links.extend(links)
    for i in range(0, len(all_links), size):
        await raw_links(graph, all_links[i : i + size])
    return written, time.perf_counter() - started, batches[-1][2] if batches else start


async def run(graph: Graph, args: argparse.Namespace, console: Console) -> list[tuple[str, int, float, str]]:
    """Rounds alternating raw and import, so that load from elsewhere falls on both alike."""
    await migrate(graph)
    importing, raw = HouseholdGenerator(IMPORT_SEED), HouseholdGenerator(RAW_SEED)
    await raw_round(graph, HouseholdGenerator(WARM_UP_SEED), 0, min(2000, args.people), args.batch)  # warm-up
    per_round = max(1, args.people // args.rounds)
    totals = {"raw": [0, 0.0], "import": [0, 0.0]}
    bad = 0
    next_import = next_raw = 0
    for r in range(args.rounds):
        n, s, next_raw = await raw_round(graph, raw, next_raw, per_round, args.batch)
        totals["raw"][0] += n
        totals["raw"][1] += s
        extract = args.data_dir / f"extract-{r}.jsonl"
        rows, next_import = write_extract(extract, importing, next_import, per_round)
        outcome = await Importer(
            graph,
            extract,
            args.data_dir / f"import-{r}.checkpoint.json",
            args.data_dir / f"import-{r}.bad.jsonl",
            batch_size=args.batch,
        ).run()
        cp = outcome.checkpoint
        bad += cp.bad + cp.link_errors
        totals["import"][0] += cp.rows
        totals["import"][1] += outcome.seconds
        console.print(
            f"round {r + 1}/{args.rounds}: raw {n / s:,.0f} people/s, import {cp.rows / outcome.seconds:,.0f} people/s"
        )
    return [
        ("raw (plain CREATEs)", int(totals["raw"][0]), float(totals["raw"][1]), ""),
        ("import (validated, MERGE, links)", int(totals["import"][0]), float(totals["import"][1]), f"{bad} bad rows"),
    ]


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

            async def go() -> list[tuple[str, int, float, str]]:
                try:
                    return await run(graph, args, console)
                finally:
                    await graph.close()

            results = asyncio.run(go())
            graph_rss = peak_rss_mb(java) if java else None
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    mean_raw = next(n / s for name, n, s, _ in results if name.startswith("raw"))
    table = Table(
        title=f"import vs raw batched writes: batches of {args.batch:,}, graph heap -Xmx{args.heap}",
        title_justify="left",
    )
    for col in ("writer", "people", "seconds", "people/s", "÷ raw", "note"):
        table.add_column(col, justify="left" if col in ("writer", "note") else "right")
    for name, n, s, note in results:
        table.add_row(name, f"{n:,}", f"{s:.1f}", f"{n / s:,.0f}", f"{n / s / mean_raw:.2f}", note)
    console.print(table)
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
