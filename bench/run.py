"""The benchmark table in one command (`make bench`): the caseworker query served four ways, same graph, same run.

    python -m bench.run [--people 10000] [--duration 8] [--concurrency 1 8 32] [--reps 2] [--baseline REV]
                        [--skip-peer] [--skip-naive] [--skip-full] [--cases 60]

Systems, each measured closed-loop at every concurrency, one after the other, on one seeded graph:

* hub   — `hub serve` over HTTP: auth, rate limit, field policy and the audit record on every request;
* hub+  — the same hub serving the whole caseworker screen (`FULL_CASEWORKER_QUERY`): the household
          query plus each maintenance case's live financial position and a cached connector field
          (employer earnings, from a sandbox upstream started here), for paying parents with a case.
          No other system can serve it: compare it with the hub row (÷hub);
* floor — the same data in one Cypher statement through the Python driver (`graph.views`), in this process;
* before — with `--baseline REV`, the hub as it was at git revision REV, beside the current one;
* naive — a throwaway Strawberry server whose objects each fetch their own relations, no DataLoader
          (`bench/naive.py`), over HTTP;
* peer  — the Neo4j GraphQL Library v5 on Apollo Server 4 (`bench/peer/`, installed from npm with its
          lockfile into `<data-dir>/peer` on first use), over HTTP. No auth, policy or audit.

Every system's answers are cross-checked against the floor before timing. Ratios are against the floor
and the peer at the same concurrency in this run: on a shared 2-core machine only ratios within one run
mean anything. Figures only; nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table

from bench.caseworker import (
    CASEWORKER_QUERY,
    CROSS_CHECK_CONCURRENCY,
    FULL_CASEWORKER_QUERY,
    FULL_EXTRA_FIELDS,
    FULL_PURPOSE,
    LOOPBACK,
    SAMPLE_SPREAD,
    BenchError,
    Call,
    Failure,
    HubClient,
    Run,
    _fmt,
    _runner,
    _sigterm_as_ctrl_c,
    _tail,
    as_json,
    floor_view,
    graph_server_pid,
    hub_server,
    measure,
    prepare,
    request_headers,
)
from graph.driver import Graph
from graph.maintenance import newest_case_parents
from graph.views import count_people, sample_parent_ids
from hub.app import connect_graph
from hub.embedded import EmbeddedError, free_port, http_status, pdeathsig_preexec
from hub.seed import seed_demo_cases
from hub.services import running_services
from hub.settings import Settings, SettingsError, load_settings

BENCH_DIR = Path(__file__).resolve().parent
PEER_SOURCE = BENCH_DIR / "peer"
CHILD_READY_TIMEOUT = 90.0

# The peer's schema names the current address a @cypher field and the history a relationship connection;
# the data asked for is the caseworker query's, field for field.
PEER_QUERY = """query Caseworker($id: ID!) {
  people(where: {id: $id}) {
    id nino givenName familyName dateOfBirth
    partner { id givenName familyName }
    children(options: {sort: [{dateOfBirth: ASC}, {id: ASC}]}) {
      id givenName dateOfBirth
      parents(options: {sort: [{dateOfBirth: ASC}, {id: ASC}]}) { id givenName }
    }
    claims(options: {sort: [{startDate: DESC}, {id: ASC}]}) { id type status amountPence startDate }
    address { line1 town postcode }
    addressesConnection(sort: [{edge: {from: DESC}}]) { edges { properties { from to } node { postcode } } }
  }
}"""


# ----------------------------------------------------------------------------------------------------
# Child servers: the naive Strawberry app and the peer
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    pid: int
    url: str


def graph_env(live: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "REDIS_URL"))}
    env.update(NEO4J_URI=live.neo4j_uri or "", NEO4J_USER=live.neo4j_user, NEO4J_DATABASE=live.neo4j_database or "")
    if live.neo4j_password is not None:
        env["NEO4J_PASSWORD"] = live.neo4j_password.get_secret_value()
    return env


@contextlib.contextmanager
def child_server(
    name: str, argv: Sequence[str], env: dict[str, str], port: int, log_path: Path, cwd: Path | None = None
) -> Iterator[Child]:
    """A server subprocess answering HTTP on `port` (any status counts as up); SIGTERM on exit."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pdeathsig_preexec(),
        )
    try:
        deadline = time.monotonic() + CHILD_READY_TIMEOUT
        while http_status(port, "/graphql") is None:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with code {proc.returncode} during start-up:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{name} was not ready within {CHILD_READY_TIMEOUT:g} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        yield Child(name=name, pid=proc.pid, url=f"http://{LOOPBACK}:{port}/graphql")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def naive_server(live: Settings, data_dir: Path) -> contextlib.AbstractContextManager[Child]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.naive", "--port", str(port)]
    return child_server("naive", argv, graph_env(live), port, data_dir / "naive-bench.log", cwd=BENCH_DIR.parent)


EARNINGS_YAML = BENCH_DIR.parent / "config" / "connectors" / "employer_earnings.yaml"
SANDBOX_API_KEY = "bench-earnings-key"


def earnings_sandbox(data_dir: Path) -> contextlib.AbstractContextManager[Child]:
    """The employer-earnings sandbox upstream (a real aiohttp server) on a free loopback port."""
    port = free_port()
    argv = [sys.executable, "-m", "connectors.sandbox", "--kind", "earnings", "--port", str(port)]
    argv += ["--api-key", SANDBOX_API_KEY]
    env = dict(os.environ)
    return child_server("earnings", argv, env, port, data_dir / "earnings-bench.log", cwd=BENCH_DIR.parent)


def connector_env(sandbox: Child, data_dir: Path) -> dict[str, str]:
    """A connectors folder holding only employer_earnings, pointed at `sandbox`; the hubs' environment for it."""
    folder = data_dir / "bench-connectors"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    text = EARNINGS_YAML.read_text(encoding="utf-8")
    base = sandbox.url.removesuffix("/graphql")
    if "base_url: http://127.0.0.1:8103" not in text:
        raise BenchError(f"{EARNINGS_YAML} no longer has the base_url this bench rewrites")
    (folder / "employer_earnings.yaml").write_text(text.replace("base_url: http://127.0.0.1:8103", f"base_url: {base}"))
    return {"HUB_CONNECTORS_DIR": str(folder.resolve()), "EARNINGS_API_KEY": SANDBOX_API_KEY}


def baseline_source(ref: str, data_dir: Path) -> Path:
    """The hub's code at git revision `ref`, extracted (git archive) under `<data_dir>/baseline/<sha>`."""
    repo = BENCH_DIR.parent
    found = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=repo, capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise BenchError(f"--baseline {ref!r} is not a git revision here")
    sha = found.stdout.strip()
    target = (data_dir / "baseline" / sha[:12]).resolve()
    if not (target / "hub" / "cli.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=repo, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def install_peer(data_dir: Path, console: Console) -> Path:
    """`npm ci` the pinned peer into `<data_dir>/peer` (once; again when the lockfile changes)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise BenchError("the peer needs Node 20+ and npm on PATH (or pass --skip-peer)")
    target = data_dir / "peer"
    target.mkdir(parents=True, exist_ok=True)
    lock = (PEER_SOURCE / "package-lock.json").read_bytes()
    stamp = target / ".installed-lock"
    for name in ("package.json", "package-lock.json", "server.mjs"):
        shutil.copyfile(PEER_SOURCE / name, target / name)
    if not (stamp.exists() and stamp.read_bytes() == lock and (target / "node_modules").is_dir()):
        console.print(f"installing the peer (npm ci, pinned by bench/peer/package-lock.json) into {target}")
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"npm ci for the peer failed:\n{done.stderr[-2000:]}")
        stamp.write_bytes(lock)
    return target


def peer_server(live: Settings, data_dir: Path, console: Console) -> contextlib.AbstractContextManager[Child]:
    home = install_peer(data_dir, console)
    port = free_port()
    env = graph_env(live) | {"PEER_PORT": str(port), "NODE_ENV": "production"}
    return child_server("peer", ["node", "server.mjs"], env, port, data_dir / "peer-bench.log", cwd=home)


# ----------------------------------------------------------------------------------------------------
# Clients
# ----------------------------------------------------------------------------------------------------


class GraphQLClient:
    """POST one prepared body per id; `pick` takes the person out of `data`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        query: str,
        ids: Sequence[str],
        root: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.session = session
        self.url = url
        self.root = root
        self.headers = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
        self.bodies = {i: orjson.dumps({"query": query, "variables": {"id": i}}) for i in ids}

    async def person(self, person_id: str) -> dict[str, Any]:
        async with self.session.post(self.url, data=self.bodies[person_id], headers=self.headers) as response:
            status, raw = response.status, await response.read()
        if status != 200:
            raise Failure(f"HTTP {status}: {raw[:200].decode(errors='replace')}")
        body = orjson.loads(raw)
        if body.get("errors"):
            raise Failure(f"GraphQL error: {body['errors'][0].get('message')}")
        found = (body.get("data") or {}).get(self.root)
        if isinstance(found, list):
            found = found[0] if found else None
        if found is None:
            raise Failure("person not found")
        result: dict[str, Any] = found
        return result


def without_screen_extras(person: dict[str, Any]) -> dict[str, Any]:
    """The whole screen minus what only hub+ asks for (case positions, earnings): the floor's shape."""
    return {k: v for k, v in person.items() if k not in FULL_EXTRA_FIELDS}


def peer_as_hub(person: dict[str, Any]) -> dict[str, Any]:
    """The peer's answer in the hub's shape (for the cross-check only; not timed)."""
    out = {k: v for k, v in person.items() if k != "addressesConnection"}
    stays = [
        {"from": e["properties"]["from"], "to": e["properties"]["to"], "address": e["node"]}
        for e in person["addressesConnection"]["edges"]
    ]
    stays.sort(key=lambda s: (s["to"] is not None, "".join(chr(0x10FFFF - ord(c)) for c in s["from"] or "")))
    out["addressHistory"] = stays
    return out


async def cross_check(name: str, call: Call, graph: Graph, ids: Sequence[str], shape: Any = None) -> list[str]:
    gate = asyncio.Semaphore(CROSS_CHECK_CONCURRENCY)
    problems: list[str] = []

    async def one(person_id: str) -> None:
        async with gate:
            try:
                got, want = await asyncio.gather(call(person_id), floor_view(graph, person_id))
            except Exception as exc:
                problems.append(f"{person_id}: {type(exc).__name__}: {exc}")
                return
        if (shape(got) if shape else got) != as_json(want):
            problems.append(f"{person_id}: {name} {got!r} != floor {as_json(want)!r}")

    await asyncio.gather(*(one(i) for i in ids))
    return problems


# ----------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass(slots=True)
class System:
    name: str
    call: Call
    pid: int


async def benchmark(
    graph: Graph, children: dict[str, Child], headers: dict[str, str], args: argparse.Namespace, console: Console
) -> tuple[list[Run], int, int, dict[str, float | None]]:
    people = await count_people(graph)
    ids = await sample_parent_ids(graph, args.sample, min(1.0, SAMPLE_SPREAD * args.sample / max(people, 1)))
    if not ids:
        raise BenchError("no person with children and claims in the graph: is it seeded?")
    graph_pid = graph_server_pid()
    connector = aiohttp.TCPConnector(limit=2 * max(max(args.concurrency), CROSS_CHECK_CONCURRENCY))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def floor_call(person_id: str) -> object:
            return await floor_view(graph, person_id)

        systems = [System("hub", HubClient(session, children["hub"].url, ids, headers).person, children["hub"].pid)]
        full_ids: list[str] = []
        if "earnings" in children:
            full_ids = [c.paying for c in await newest_case_parents(graph, args.cases) if c.paying]
            full_headers = {**headers, "x-purpose": FULL_PURPOSE}
            screen = HubClient(session, children["hub"].url, full_ids, full_headers, FULL_CASEWORKER_QUERY)

            async def full_call(person_id: str) -> dict[str, Any]:
                person = await screen.person(person_id)
                if not person.get("maintenanceCases") or not (person.get("employerEarnings") or {}).get("provenance"):
                    raise Failure("the screen came back without a case position or employer earnings")
                return person

            systems.append(System("hub+", full_call, children["hub"].pid))
        systems.append(System("floor", floor_call, os.getpid()))
        if "before" in children:
            before = HubClient(session, children["before"].url, ids, headers)
            systems.insert(1, System("before", before.person, children["before"].pid))
        if "naive" in children:
            naive = GraphQLClient(session, children["naive"].url, CASEWORKER_QUERY, ids, "person")
            systems.append(System("naive", naive.person, children["naive"].pid))
        if "peer" in children:
            peer = GraphQLClient(session, children["peer"].url, PEER_QUERY, ids, "people")
            systems.append(System("peer", peer.person, children["peer"].pid))
        for s in systems:
            if s.name == "floor":
                continue
            shape = {"peer": peer_as_hub, "hub+": without_screen_extras}.get(s.name)
            checked = full_ids if s.name == "hub+" else ids
            problems = await cross_check(s.name, s.call, graph, checked, shape)
            console.print(
                f"cross-check: {s.name} and floor agree on {len(checked) - len(problems)}/{len(checked)} people"
            )
            for problem in problems[:3]:
                console.print(f"  [red]mismatch[/red] {problem[:400]}", markup=True, highlight=False)
        runs: list[Run] = []
        for rep in range(1, args.reps + 1):
            for c in args.concurrency:
                # Every other rep runs the systems in reverse order: whoever goes first at a
                # concurrency warms the graph server (JIT, page cache, index compaction) for the rest.
                for s in systems if rep % 2 else systems[::-1]:
                    console.print(f"  {s.name:5} c={c:<3} rep {rep}: {args.warmup:g} s warm-up, {args.duration:g} s")
                    cycle = full_ids if s.name == "hub+" else ids
                    runs.append(await measure(s.name, s.call, cycle, c, rep, args, s.pid, graph_pid))
    rss = {name: peak_rss_mb(child.pid) for name, child in children.items() if name != "earnings"}
    return runs, people, len(ids), rss


def report(
    runs: list[Run],
    people: int,
    sampled: int,
    rss: dict[str, float | None],
    args: argparse.Namespace,
    heap: str,
    console: Console,
) -> None:
    by = {(r.system, r.rep, r.concurrency): r for r in runs}
    table = Table(
        title=f"caseworker query: {people:,} people, graph heap -Xmx{heap}, {sampled} sampled parents, "
        f"{args.duration:g} s per run",
        title_justify="left",
    )
    table.add_column("system")
    for name in ("c", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "graph ms/req", "÷floor req/s", "÷floor p50"):
        table.add_column(name, justify="right")
    table.add_column("÷peer req/s", justify="right")
    has_before = any(r.system == "before" for r in runs)
    has_screen = any(r.system == "hub+" for r in runs)
    if has_before:
        table.add_column("÷before", justify="right")
    if has_screen:
        table.add_column("÷hub", justify="right")
    table.add_column("others", justify="right")
    table.add_column("fail", justify="right")
    for r in runs:
        floor = by.get(("floor", r.rep, r.concurrency))
        peer = by.get(("peer", r.rep, r.concurrency))
        vs_floor = ("—", "—")
        if r.system != "floor" and floor is not None and floor.rps:
            vs_floor = (_fmt(r.rps / floor.rps), _fmt(r.percentile_ms(0.5) / floor.percentile_ms(0.5)))
        vs_peer = _fmt(r.rps / peer.rps) if r.system != "peer" and peer is not None and peer.rps else "—"
        before = by.get(("before", r.rep, r.concurrency))
        vs_before = _fmt(r.rps / before.rps) if r.system == "hub" and before is not None and before.rps else "—"
        hub = by.get(("hub", r.rep, r.concurrency))
        vs_hub = _fmt(r.rps / hub.rps) if r.system == "hub+" and hub is not None and hub.rps else "—"
        table.add_row(
            r.system if args.reps == 1 else f"{r.system} #{r.rep}",
            str(r.concurrency),
            _fmt(r.rps, 0),
            _fmt(r.percentile_ms(0.5)),
            _fmt(r.percentile_ms(0.99)),
            _fmt(r.per_request_ms(r.cpu)),
            _fmt(r.per_request_ms(r.graph_cpu)),
            *vs_floor,
            vs_peer,
            *([vs_before] if has_before else []),
            *([vs_hub] if has_screen else []),
            _fmt(r.other_cores),
            str(sum(r.failures.values())),
        )
    console.print(table)
    peaks = ", ".join(f"{k} {v:,.0f} MB" for k, v in rss.items() if v is not None)
    console.print(
        f"peak RSS (VmHWM): {peaks}.\n"
        "CPU ms/req: the serving process (hub, naive, peer), or this process running the driver (floor).\n"
        "graph ms/req: the ArcadeDB server. ÷floor / ÷peer: this row ÷ that system at the same concurrency.\n"
        f"others: cores used meanwhile by every other process on this {os.cpu_count()}-core machine (noise when\n"
        "well above 0). hub = auth + rate limit + field policy + audit; naive and peer do none of that.\n"
        "hub+: the whole screen (household + case positions + cached employer earnings) for paying parents\n"
        "with a case; ÷hub compares it with the household query alone (the floor and the peer cannot serve it).",
        highlight=False,
    )
    for r in runs:
        for message, count in r.failures.most_common(3):
            console.print(f"[red]{r.system} c={r.concurrency}[/red]: {count} × {message}", highlight=False)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from bench.caseworker import parse_args as caseworker_args

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--skip-peer", action="store_true", help="leave out the Neo4j GraphQL Library (needs npm)")
    extra.add_argument(
        "--baseline",
        metavar="REV",
        help="also serve the hub at git revision REV ('before'), to measure a change in the same run",
    )
    extra.add_argument("--skip-naive", action="store_true", help="leave out the naive per-object resolvers")
    extra.add_argument(
        "--skip-full", action="store_true", help="leave out hub+ (the screen with case positions and earnings)"
    )
    extra.add_argument("--cases", type=int, default=60, help="maintenance cases seeded for hub+ (default 60)")
    known, rest = extra.parse_known_args(argv)
    defaults = ["--people", "10000", "--duration", "8", "--concurrency", "1", "8", "32", "--sample", "300"]
    args = caseworker_args([*defaults, *rest])
    args.skip_peer, args.skip_naive, args.baseline = known.skip_peer, known.skip_naive, known.baseline
    args.skip_full, args.cases = known.skip_full, known.cases
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 140))
    _sigterm_as_ctrl_c()
    try:
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        heap = settings.embedded_graph_heap if not settings.neo4j_uri else "external graph"
        args.data_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"starting the graph and cache under {args.data_dir} (graph heap {heap})")
        with running_services(settings) as live, _runner() as runner, contextlib.ExitStack() as stack:
            graph = connect_graph(live)
            stack.callback(lambda: runner.run(graph.close()))
            runner.run(prepare(graph, args.people, console))
            headers = request_headers(args, live)
            extra_env: dict[str, str] = {}
            sandbox = None
            if not args.skip_full:
                made = runner.run(seed_demo_cases(graph, args.people, 42, cases=args.cases))
                console.print(f"maintenance cases for hub+: {made} created (up to {args.cases} kept)")
                sandbox = stack.enter_context(earnings_sandbox(args.data_dir))
                extra_env = connector_env(sandbox, args.data_dir)
            hub = stack.enter_context(hub_server(live, args.data_dir, extra_env=extra_env))
            children = {"hub": Child(name="hub", pid=hub.pid, url=hub.url)}
            if sandbox is not None:
                children["earnings"] = sandbox
            if args.baseline:
                source = baseline_source(args.baseline, args.data_dir)
                old = stack.enter_context(
                    hub_server(live, args.data_dir, source, "baseline-bench.log", extra_env=extra_env)
                )
                children["before"] = Child(name="before", pid=old.pid, url=old.url)
            if not args.skip_naive:
                children["naive"] = stack.enter_context(naive_server(live, args.data_dir))
            if not args.skip_peer:
                children["peer"] = stack.enter_context(peer_server(live, args.data_dir, console))
            for child in children.values():
                console.print(f"{child.name}: pid {child.pid} at {child.url}")
            runs, people, sampled, rss = runner.run(benchmark(graph, children, headers, args, console))
        report(runs, people, sampled, rss, args, heap, console)
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: the servers were stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
