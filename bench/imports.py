"""Import rate against the server's raw batched-write rate, same server, same run.

    python -m bench.imports [--people 20000] [--batch 2000] [--heap 2g] [--data-dir .data/bench-import]

1. Starts a fresh embedded graph (the data dir is emptied first) and applies the migrations, so every
   constraint and index the hub keeps is in place for both writers.
2. Writes a JSON Lines extract of `--people` synthetic people (households, addresses, claims, parents and
   partners by NINO) from the seed generator.
3. raw: the same kind of data (another seed, so other NINOs) written with plain CREATEs in batches of the
   same size, nothing validated or checked (`graph.bulk.raw_write`), links in a second pass as well.
4. import: `hub import`'s `Importer` on the extract: row-by-row validation, MERGE on the NINO, the
   second pass for links, a checkpoint per batch.
   (A small raw write with yet another seed warms the server up first.)
5. raw again with a third seed, to bracket the import (a drifting machine shows as two different raws).

Prints people/s for each, import ÷ mean raw, the graph server's heap setting and peak RSS, and this
process's peak RSS (the importer streams: memory is bounded by the batch, whatever the file size).
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

IMPORT_SEED, RAW_SEEDS, WARM_UP_SEED = 11, (12, 13), 14


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


def write_extract(path: Path, people: int, seed: int) -> int:
    written = 0
    with path.open("wb") as fh:
        for batch, _ in HouseholdGenerator(seed).batches(people):
            for row in extract_rows(batch):
                fh.write(orjson.dumps(row) + b"\n")
                written += 1
    return written


def raw_batches(people: int, seed: int, size: int) -> Iterator[tuple[ImportBatch, list[dict[str, Any]]]]:
    """Seed data as raw write batches of about `size` people, plus the links of each."""
    for batch, _ in HouseholdGenerator(seed).batches(people, per_batch=max(1, size * 2 // 5)):
        nino = {p["id"]: p["props"]["nino"] for p in batch.people}
        out = ImportBatch(
            people=[{"nino": p["props"]["nino"], "id": p["id"], "props": p["props"]} for p in batch.people],
            addresses=batch.addresses,
            residences=[{**r, "nino": nino[r["person"]]} for r in batch.residences],
            claims=[{**c, "nino": nino[c["person"]]} for c in batch.claims],
        )
        links = [{"kind": "PARENT_OF", "a": nino[x["a"]], "b": nino[x["b"]]} for x in batch.parent_of]
        links += [{"kind": "PARTNER_OF", "a": nino[x["a"]], "b": nino[x["b"]]} for x in batch.partner_of]
        yield out, links


async def raw_rate(graph: Graph, people: int, seed: int, size: int) -> tuple[int, float]:
    started = time.perf_counter()
    written, all_links = 0, []
    for batch, links in raw_batches(people, seed, size):
        await raw_write(graph, batch)
        written += len(batch.people)
        all_links.extend(links)
    for i in range(0, len(all_links), size):
        await raw_links(graph, all_links[i : i + size])
    return written, time.perf_counter() - started


async def run(graph: Graph, args: argparse.Namespace, console: Console) -> list[tuple[str, int, float, str]]:
    await migrate(graph)
    extract = args.data_dir / "extract.jsonl"
    rows = write_extract(extract, args.people, IMPORT_SEED)
    console.print(f"extract: {rows:,} people, {extract.stat().st_size / 2**20:,.1f} MB")
    results = []
    await raw_rate(graph, min(2000, args.people), WARM_UP_SEED, args.batch)  # JIT, caches, connection pool
    n, s = await raw_rate(graph, args.people, RAW_SEEDS[0], args.batch)
    results.append(("raw (CREATE, before)", n, s, ""))
    console.print(f"raw: {n:,} people in {s:.1f} s")
    importer = Importer(
        graph,
        extract,
        args.data_dir / "import.checkpoint.json",
        args.data_dir / "import.bad.jsonl",
        batch_size=args.batch,
        restart=True,
    )
    outcome = await importer.run()
    cp = outcome.checkpoint
    results.append(("import (validated, MERGE, links)", cp.rows, outcome.seconds, f"{cp.bad + cp.link_errors} bad"))
    console.print(f"import: {cp.rows:,} people in {outcome.seconds:.1f} s")
    n, s = await raw_rate(graph, args.people, RAW_SEEDS[1], args.batch)
    results.append(("raw (CREATE, after)", n, s, ""))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="people per writer (default 20000)")
    parser.add_argument("--batch", type=int, default=2000, help="people per transaction (default 2000)")
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
    raws = [n / s for name, n, s, _ in results if name.startswith("raw")]
    mean_raw = sum(raws) / len(raws)
    table = Table(
        title=f"import vs raw batched writes: batches of {args.batch:,}, graph heap -Xmx{args.heap}",
        title_justify="left",
    )
    for col in ("writer", "people", "seconds", "people/s", "÷ mean raw", "note"):
        table.add_column(col, justify="left" if col in ("writer", "note") else "right")
    for name, n, s, note in results:
        table.add_row(name, f"{n:,}", f"{s:.1f}", f"{n / s:,.0f}", f"{n / s / mean_raw:.2f}", note)
    console.print(table)
    me = _self_peak_mb()
    console.print(
        f"peak RSS: graph server {graph_rss or 0:,.0f} MB (heap -Xmx{args.heap}), this process {me:,.0f} MB. "
        "Both writers run in this process through the same driver; raw bracket the import to show drift.",
    )
    return 0


def _self_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
