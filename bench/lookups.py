"""Indexed lookups: p50 / p99 of every way to find a person, as the graph grows.

    python -m bench.lookups [--sizes 10000 100000] [--samples 300] [--data-dir .data/bench-lookups]
    python -m bench.lookups --sizes 10000 100000 1000000        # the 1M point (seeding takes a while)
    python -m bench.lookups --sizes 1000000 --reuse              # again on the 1M graph already seeded

For each size the graph is seeded up to that many people, starting from an empty data dir (or, with
`--reuse`, from what the data dir holds),
then each lookup runs `--samples` times one after the other (concurrency 1) with keys of people who
exist, through the repository functions the resolvers call (`graph.person`), round robin over the kinds
(so a burst of load from elsewhere hits them alike), beside a trivial `RETURN 1` as the baseline:

* person by id, person by NINO (the `person` / `personByNino` root fields);
* each search filter the `people` field offers: nino, familyName (whole), familyName prefix (3 letters),
  familyName + givenName, dateOfBirth, postcode — first page of 20, ordered as the API orders.

Prints p50 / p99 per size and p99(largest) ÷ p99(smallest) (flat is ~1.0; the aim is within ±20% for
id and NINO). Latency includes the Python driver's work: compare sizes within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.caseworker import BenchError, prepare
from graph.driver import Graph
from graph.models import PersonFilter
from graph.person import get_people, get_people_by_nino, search_people
from graph.views import count_people, round_trip, sample_people
from hub.app import connect_graph
from hub.embedded import EmbeddedError
from hub.services import running_services
from hub.settings import SettingsError, load_settings

PAGE = 20
Lookup = Callable[[Graph, dict[str, Any]], Awaitable[object]]


def _search(**build: Callable[[dict[str, Any]], Any]) -> Lookup:
    async def run(graph: Graph, p: dict[str, Any]) -> object:
        return await search_people(graph, PersonFilter(**{k: f(p) for k, f in build.items()}), PAGE, None)

    return run


async def _by_id(graph: Graph, p: dict[str, Any]) -> object:
    return await get_people(graph, [p["id"]])


async def _by_nino(graph: Graph, p: dict[str, Any]) -> object:
    return await get_people_by_nino(graph, [p["nino"]])


async def _round_trip(graph: Graph, p: dict[str, Any]) -> object:
    await round_trip(graph)
    return None


LOOKUPS: dict[str, Lookup] = {
    "baseline: RETURN 1": _round_trip,
    "person by id": _by_id,
    "person by NINO": _by_nino,
    "search: nino": _search(nino=lambda p: p["nino"]),
    "search: familyName": _search(family_name=lambda p: p["familyName"]),
    "search: familyName prefix (3)": _search(family_name=lambda p: p["familyName"][:3]),
    "search: familyName + givenName": _search(
        family_name=lambda p: p["familyName"], given_name=lambda p: p["givenName"]
    ),
    "search: dateOfBirth": _search(date_of_birth=lambda p: p["dateOfBirth"]),
    "search: postcode": _search(postcode=lambda p: p["postcode"]),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000 if ordered else math.nan


async def measure(graph: Graph, samples: int, console: Console) -> tuple[int, dict[str, tuple[float, float]]]:
    people = await count_people(graph)
    keys = await sample_people(graph, samples * 2, min(1.0, 20 * samples / max(people, 1)))
    keys = [k for k in keys if k["postcode"] and k["dateOfBirth"]][:samples]
    if not keys:
        raise BenchError("no people to look up: is the graph seeded?")
    random.Random(7).shuffle(keys)
    for lookup in LOOKUPS.values():
        for p in keys[:20]:  # warm-up
            await lookup(graph, p)
    # Round robin over the kinds, so that a burst of load from elsewhere hits every kind alike.
    latencies: dict[str, list[float]] = {name: [] for name in LOOKUPS}
    for p in keys:
        for name, lookup in LOOKUPS.items():
            started = time.perf_counter()
            await lookup(graph, p)
            latencies[name].append(time.perf_counter() - started)
    out = {name: (pct(values, 0.5), pct(values, 0.99)) for name, values in latencies.items()}
    return people, out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lookups", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="default: 10000 100000")
    parser.add_argument("--samples", type=int, default=300, help="lookups of each kind per size (default 300)")
    parser.add_argument("--heap", default="2g", help="embedded graph heap, -Xmx (default 2g)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench-lookups"), help="emptied first")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data dir's graph (it must not hold more than the first size)"
    )
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 120))
    sizes = sorted(args.sizes)
    results: list[tuple[int, dict[str, tuple[float, float]]]] = []
    try:
        if not args.reuse:
            shutil.rmtree(args.data_dir, ignore_errors=True)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        with running_services(settings, cache=False) as live:
            graph = connect_graph(live)

            async def go() -> None:
                try:
                    for size in sizes:
                        await prepare(graph, size, console)
                        held = await count_people(graph)
                        if held > size * 1.01:
                            raise BenchError(f"the graph holds {held:,} people, more than {size:,}: drop --reuse")
                        results.append(await measure(graph, args.samples, console))
                        console.print(f"measured at {results[-1][0]:,} people")
                finally:
                    await graph.close()

            asyncio.run(go())
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    table = Table(
        title=f"indexed lookups, concurrency 1, {args.samples} each, graph heap -Xmx{args.heap}", title_justify="left"
    )
    table.add_column("lookup")
    for people, _ in results:
        table.add_column(f"{people:,}: p50 / p99 ms", justify="right")
    table.add_column("p99 largest ÷ smallest", justify="right")
    for name in LOOKUPS:
        cells = [f"{r[name][0]:.2f} / {r[name][1]:.2f}" for _, r in results]
        ratio = results[-1][1][name][1] / results[0][1][name][1] if len(results) > 1 else math.nan
        table.add_row(name, *cells, f"{ratio:.2f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
