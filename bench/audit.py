"""What one audit record costs: the hub's audit writer beside the floor read it accompanies, same graph, same run.

    python -m bench.audit [--people 3000] [--duration 5] [--concurrency 1 8 32] [--data-dir .data/bench]

Every caseworker request that reads personal data waits for its `AccessEvent` (graph.audit.AuditTrail):
one write transaction per batch of concurrent requests. This measures that writer alone, closed-loop,
recording what the caseworker query reads (a parent, their partner, children and the children's
parents), against the floor read of the same people (`graph.views.caseworker_views`) at the same
concurrency: events/s, p50/p99, and the graph server's CPU per event (ArcadeDB's own /proc figures).
Figures only; nothing asserts a timing. The trail it writes is checked (`verify_chains`) at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.caseworker import (
    SAMPLE_SPREAD,
    BenchError,
    Run,
    _fmt,
    _runner,
    _sigterm_as_ctrl_c,
    floor_view,
    graph_server_pid,
    measure,
    prepare,
)
from graph import audit
from graph.driver import Graph
from graph.views import count_people, sample_parent_ids
from hub.app import connect_graph
from hub.embedded import EmbeddedError
from hub.services import running_services
from hub.settings import SettingsError, load_settings

ACTOR = audit.Actor(subject="bench-audit", role="caseworker", department=None, purpose="benefits-assessment")
PERSON_FIELDS = ["id", "nino", "givenName", "familyName", "dateOfBirth", "partner", "children", "claims", "address"]
RELATIVE_FIELDS = ["id", "givenName", "familyName", "dateOfBirth", "parents"]


def people_read(view: Any, out: set[str] | None = None) -> set[str]:
    """Ids of the people in a caseworker view (the person, partner, children, children's parents)."""
    out = set() if out is None else out
    if isinstance(view, dict):
        if "givenName" in view and "id" in view:
            out.add(view["id"])
        for value in view.values():
            people_read(value, out)
    elif isinstance(view, list):
        for value in view:
            people_read(value, out)
    return out


async def benchmark(graph: Graph, args: argparse.Namespace, console: Console) -> tuple[list[Run], float]:
    people = await count_people(graph)
    ids = await sample_parent_ids(graph, args.sample, min(1.0, SAMPLE_SPREAD * args.sample / max(people, 1)))
    if not ids:
        raise BenchError("no person with children and claims in the graph: is it seeded?")
    reads: dict[str, dict[str, list[str]]] = {}
    for person_id in ids:
        view = await floor_view(graph, person_id)
        reads[person_id] = {p: PERSON_FIELDS if p == person_id else RELATIVE_FIELDS for p in people_read(view)}
    mean_people = sum(len(r) for r in reads.values()) / len(reads)
    graph_pid = graph_server_pid()
    trail = audit.AuditTrail(graph, chain=f"bench-audit-{uuid.uuid4()}")
    await trail.start()
    try:

        async def record(person_id: str) -> object:
            return await trail.record(ACTOR, f"bench-{uuid.uuid4()}", reads[person_id])

        async def read(person_id: str) -> object:
            return await floor_view(graph, person_id)

        runs: list[Run] = []
        for rep in range(1, args.reps + 1):
            for c in args.concurrency:
                systems = [("audit", record), ("floor", read)]
                for name, call in systems if rep % 2 else systems[::-1]:
                    console.print(f"  {name:5} c={c:<3} rep {rep}: {args.warmup:g} s warm-up, {args.duration:g} s")
                    runs.append(await measure(name, call, ids, c, rep, args, os.getpid(), graph_pid))
    finally:
        await trail.close()
    problems = [p for p in await audit.verify_chains(graph) if p.startswith(f"chain {trail.chain}:")]
    console.print(f"verify_chains on the bench's chain: {'intact' if not problems else problems[:3]}")
    return runs, mean_people


def report(runs: list[Run], mean_people: float, args: argparse.Namespace, console: Console) -> None:
    floors = {(r.rep, r.concurrency): r for r in runs if r.system == "floor"}
    table = Table(
        title=f"audit record vs floor read: {mean_people:.1f} people per record, {args.duration:g} s per run",
        title_justify="left",
    )
    table.add_column("system")
    columns = ("c", "per s", "p50 ms", "p99 ms", "Python CPU ms/op", "graph CPU ms/op", "÷floor p50", "others", "fail")
    for name in columns:
        table.add_column(name, justify="right")
    for r in runs:
        floor = floors.get((r.rep, r.concurrency))
        ratio = "—"
        if r.system == "audit" and floor is not None and floor.latencies:
            ratio = _fmt(r.percentile_ms(0.5) / floor.percentile_ms(0.5))
        table.add_row(
            r.system if args.reps == 1 else f"{r.system} #{r.rep}",
            str(r.concurrency),
            _fmt(r.rps, 0),
            _fmt(r.percentile_ms(0.5)),
            _fmt(r.percentile_ms(0.99)),
            _fmt(r.per_request_ms(r.cpu)),
            _fmt(r.per_request_ms(r.graph_cpu)),
            ratio,
            _fmt(r.other_cores),
            str(sum(r.failures.values())),
        )
    console.print(table)
    console.print(
        "audit: graph.audit.AuditTrail.record, one AccessEvent + an ACCESSED edge per person, batched per\n"
        "transaction across concurrent callers. floor: the caseworker read of the same people, one statement.\n"
        "Python CPU ms/op: this process (driver, hashing, batching). graph CPU ms/op: the ArcadeDB server's.\n"
        "others: cores used meanwhile by every other process on the machine (noise when well above 0).",
        highlight=False,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=3000, help="people to seed (default 3000)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="default: 1 8 32")
    parser.add_argument("--sample", type=int, default=300, help="parents the records cycle through")
    parser.add_argument("--reps", type=int, default=2, help="repetitions, alternating the order (default 2)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench"), help="default .data/bench")
    parser.add_argument("--heap", default="2g", help="embedded graph heap, -Xmx (default 2g)")
    args = parser.parse_args(argv)
    if args.people < 1 or args.duration <= 0 or args.warmup <= 0 or args.sample < 1 or args.reps < 1:
        parser.error("--people, --duration, --warmup, --sample and --reps must be positive")
    if any(c < 1 for c in args.concurrency):
        parser.error("--concurrency values must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 110))
    _sigterm_as_ctrl_c()
    try:
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        with running_services(settings, cache=False) as live, _runner() as runner:
            graph = connect_graph(live)
            try:
                runner.run(prepare(graph, args.people, console))
                runs, mean_people = runner.run(benchmark(graph, args, console))
            finally:
                runner.run(graph.close())
        report(runs, mean_people, args, console)
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: the servers were stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
