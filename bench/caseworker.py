"""The caseworker-query benchmark: the hub over HTTP against the floor, on the same graph, in the same run.

    python -m bench.caseworker [--people 100000] [--duration 10] [--data-dir .data/bench]

1. Starts the embedded graph and cache (`hub.services.running_services`), migrates, and seeds
   `--people` synthetic people (idempotent: a re-run finds the finished batches and skips them).
2. Starts the hub as a real HTTP server in a subprocess (`hub serve`) pointed at those servers, so the
   load generator does not share a process (or a GIL) with it.
3. Samples people with a household (children), claims and addresses, and checks that the hub and the
   floor return the same data for every one of them.
4. Runs a closed loop at each concurrency for `--duration` seconds after a warm-up: the hub (POST
   /graphql through one aiohttp session) and the floor (`graph.views.caseworker_views`: the same data
   in one Cypher statement through the driver, in this process).
5. Prints req/s, p50, p99, CPU per request and hub ÷ floor ratios at the same concurrency.

Figures only: nothing here asserts a timing. The hub, its servers and the graph stop on exit,
Ctrl-C or SIGTERM; if this process is killed outright the children get a parent-death signal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table

from graph.driver import Graph
from graph.migrations import migrate
from graph.views import caseworker_views, count_people, sample_parent_ids
from hub.app import connect_graph
from hub.embedded import EmbeddedError, free_port, http_status, pdeathsig_preexec
from hub.seed import seed_with_progress
from hub.services import running_services
from hub.settings import Settings, SettingsError, load_settings

CASEWORKER_QUERY = """query Caseworker($id: ID!) {
  person(id: $id) {
    id nino givenName familyName dateOfBirth
    partner { id givenName familyName }
    children { id givenName dateOfBirth parents { id givenName } }
    claims { id type status amountPence startDate }
    address { line1 town postcode }
    addressHistory { from to address { postcode } }
  }
}"""

# The whole caseworker screen: the household query plus each case's financial position (computed
# live from schedules and payments) and a cached connector field (employer earnings, from an upstream
# over HTTP, served from the Redis cache once fetched). Needs the child-maintenance purpose. Neither the
# floor nor the peer can serve a connector field, so this runs as its own system ("hub+"), compared
# with the hub on the household query alone.
FULL_CASEWORKER_QUERY = (
    CASEWORKER_QUERY.replace("query Caseworker(", "query CaseworkerScreen(").removesuffix("\n  }\n}")
    + """
    maintenanceCases {
      id scheme
      position(viewAs: PAYING) {
        ... on PayingPosition { dueToDatePence paidPence arrearsPence nextPayment { dueDate amountPence } }
      }
    }
    employerEarnings { currentEmployer grossPayPenceTotal latestPeriodEnd provenance { stale } }
  }
}"""
)
FULL_PURPOSE = "child-maintenance"
FULL_EXTRA_FIELDS = ("maintenanceCases", "employerEarnings")

LOOPBACK = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HUB_READY_TIMEOUT = 60.0
HUB_STOP_TIMEOUT = 15.0
CROSS_CHECK_CONCURRENCY = 8
DEV_ROLE = "caseworker"
TOKEN_TTL = 6 * 3600
UNREACHED_RATE_LIMIT = 1_000_000_000  # requests per minute
SAMPLE_SPREAD = 10  # sample from roughly the first SAMPLE_SPREAD * --sample / people of the graph's parents

Call = Callable[[str], Awaitable[object]]
_DIGITS = re.compile(r"\d+")  # failures are grouped by message with numbers masked


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


class Failure(Exception):
    """One request that did not return the person it asked for."""


# ----------------------------------------------------------------------------------------------------
# Processes: CPU accounting and the hub subprocess
# ----------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc/<pid>/stat, fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        raise BenchError(f"process {pid} exited during the benchmark (see hub-bench.log in the data dir)") from None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def graph_server_pid() -> int | None:
    """The embedded ArcadeDB: the java child of this process (None when the graph is external)."""
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and comm == "java":
            return int(entry.name)
    return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True, slots=True)
class HubProcess:
    pid: int
    url: str  # the /graphql endpoint


@contextlib.contextmanager
def hub_server(
    live: Settings,
    data_dir: Path,
    source: Path | None = None,
    log_name: str = "hub-bench.log",
    extra_env: dict[str, str] | None = None,
) -> Iterator[HubProcess]:
    """`hub serve` on a free port, using the servers in `live` (so it starts none itself); stopped on exit.

    `source`: serve the hub from that copy of the code instead (a baseline revision, `bench.run --baseline`).
    `extra_env`: more environment for it (the connectors `bench.run` points at its own sandbox).
    """
    port = free_port()
    script = Path(sys.executable).with_name("hub")
    command = [str(script)] if script.exists() and source is None else [sys.executable, "-m", "hub.cli"]
    argv = [*command, "serve", "--host", LOOPBACK, "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "REDIS_URL"))}
    env.update(
        NEO4J_URI=live.neo4j_uri or "",
        NEO4J_USER=live.neo4j_user,
        REDIS_URL=live.redis_url or "",
        HUB_DATA_DIR=str(data_dir.resolve()),
        # One bench principal sends thousands of requests a minute: the per-principal limiter stays on
        # (its cache round trip is part of what a request costs) but with a limit it never reaches.
        HUB_RATE_LIMIT_PER_MINUTE=str(UNREACHED_RATE_LIMIT),
    )
    if live.neo4j_password is not None:
        env["NEO4J_PASSWORD"] = live.neo4j_password.get_secret_value()
    if live.neo4j_database:
        env["NEO4J_DATABASE"] = live.neo4j_database
    if source is not None:
        env["PYTHONPATH"] = str(source)
    env.update(extra_env or {})
    log_path = data_dir / log_name
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=source,
            stdin=subprocess.DEVNULL,
            stdout=log,  # a file, never a pipe nobody reads
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's Ctrl-C comes here; we stop the hub in order
            preexec_fn=pdeathsig_preexec(),  # and it is sent SIGTERM if this process dies
        )
    try:
        deadline = time.monotonic() + HUB_READY_TIMEOUT
        while http_status(port, "/readyz") != 200:
            if proc.poll() is not None:
                raise BenchError(f"the hub exited with code {proc.returncode} during start-up:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"the hub was not ready within {HUB_READY_TIMEOUT:g} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        yield HubProcess(pid=proc.pid, url=f"http://{LOOPBACK}:{port}/graphql")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(HUB_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ----------------------------------------------------------------------------------------------------
# The two systems
# ----------------------------------------------------------------------------------------------------


class HubClient:
    """The caseworker query over HTTP; request bodies are built once per id, not per request."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        ids: Sequence[str],
        headers: dict[str, str],
        query: str = CASEWORKER_QUERY,
    ) -> None:
        self.session = session
        self.url = url
        self.headers = {"content-type": "application/json", "accept": "application/json", **headers}
        self.bodies = {i: orjson.dumps({"query": query, "variables": {"id": i}}) for i in ids}

    async def person(self, person_id: str) -> dict[str, Any]:
        async with self.session.post(self.url, data=self.bodies[person_id], headers=self.headers) as response:
            status, raw = response.status, await response.read()
        if status != 200:
            raise Failure(f"HTTP {status}: {raw[:200].decode(errors='replace')}")
        body = orjson.loads(raw)
        if body.get("errors"):
            error = body["errors"][0]
            code = (error.get("extensions") or {}).get("code", "")
            raise Failure(f"GraphQL error {code}: {error.get('message')}")
        person = (body.get("data") or {}).get("person")
        if person is None:
            raise Failure("person not found")
        result: dict[str, Any] = person
        return result


async def floor_view(graph: Graph, person_id: str) -> dict[str, Any]:
    [view] = await caseworker_views(graph, [person_id])
    if view is None:
        raise Failure("person not found")
    return view


def as_json(value: Any) -> Any:
    """A floor view as the hub sends it: dates as ISO strings."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


async def cross_check(hub: HubClient, graph: Graph, ids: Sequence[str]) -> list[str]:
    """Ids (with the reason) where the hub and the floor disagree; also warms both up."""
    gate = asyncio.Semaphore(CROSS_CHECK_CONCURRENCY)
    problems: list[str] = []

    async def one(person_id: str) -> None:
        async with gate:
            try:
                got, want = await asyncio.gather(hub.person(person_id), floor_view(graph, person_id))
            except Exception as exc:  # reported with the others
                problems.append(f"{person_id}: {type(exc).__name__}: {exc}")
                return
        if got != as_json(want):
            problems.append(f"{person_id}: hub {got!r} != floor {as_json(want)!r}")

    await asyncio.gather(*(one(i) for i in ids))
    return problems


# ----------------------------------------------------------------------------------------------------
# Load
# ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    system: str
    concurrency: int
    rep: int
    latencies: list[float]  # seconds, successful requests only, sorted
    elapsed: float
    failures: Counter[str]
    cpu: float  # seconds used by the system under test
    graph_cpu: float | None  # seconds used by the graph server
    client_cpu: float | None  # seconds used by the load generator (hub runs only)
    other_cores: float  # CPU used by every other process on the machine meanwhile, in cores

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return math.nan
        return self.latencies[max(0, math.ceil(q * len(self.latencies)) - 1)] * 1000

    def per_request_ms(self, seconds: float | None) -> float | None:
        return seconds * 1000 / self.requests if seconds is not None and self.requests else None


async def closed_loop(
    call: Call, ids: Sequence[str], concurrency: int, duration: float
) -> tuple[list[float], float, Counter[str]]:
    """`concurrency` workers, each sending its next request as soon as the last one answered.

    Returns the latencies of successful requests, the elapsed time (until the last request in flight
    at the deadline finished) and the failures by message. Ids are taken in turn from `ids`.
    """
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    turn = itertools.count()
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while (start := time.perf_counter()) < deadline:
            person_id = ids[next(turn) % len(ids)]
            try:
                await call(person_id)
            except Exception as exc:  # counted and printed; the run goes on
                failures[_DIGITS.sub("N", f"{type(exc).__name__}: {exc}")[:300]] += 1
            else:
                latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(latencies), time.perf_counter() - began, failures


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    system: float
    graph: float | None
    client: float
    machine: float

    @classmethod
    def take(cls, system_pid: int, graph_pid: int | None) -> CpuSnapshot:
        return cls(
            system=cpu_seconds(system_pid),
            graph=cpu_seconds(graph_pid) if graph_pid else None,
            client=cpu_seconds(os.getpid()),
            machine=machine_busy_seconds(),
        )


async def measure(
    system: str,
    call: Call,
    ids: Sequence[str],
    concurrency: int,
    rep: int,
    args: argparse.Namespace,
    system_pid: int,
    graph_pid: int | None,
) -> Run:
    await closed_loop(call, ids, concurrency, args.warmup)
    before = CpuSnapshot.take(system_pid, graph_pid)
    latencies, elapsed, failures = await closed_loop(call, ids, concurrency, args.duration)
    after = CpuSnapshot.take(system_pid, graph_pid)
    ours = after.system - before.system
    graph_cpu = after.graph - before.graph if after.graph is not None and before.graph is not None else None
    client_cpu = after.client - before.client if system_pid != os.getpid() else None
    others = after.machine - before.machine - ours - (graph_cpu or 0.0) - (client_cpu or 0.0)
    return Run(
        system=system,
        concurrency=concurrency,
        rep=rep,
        latencies=latencies,
        elapsed=elapsed,
        failures=failures,
        cpu=ours,
        graph_cpu=graph_cpu,
        client_cpu=client_cpu,
        other_cores=max(others, 0.0) / elapsed if elapsed else 0.0,
    )


# ----------------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------------


async def prepare(graph: Graph, people: int, console: Console) -> None:
    """Migrate and seed; print the seed rate (people written per second of this run)."""
    await migrate(graph)
    written, skipped, elapsed = await seed_with_progress(graph, people, 42, console)
    rate = f": {written / elapsed:,.0f} people/s" if written else " (nothing to write)"
    console.print(f"seed: {written:,} people written, {skipped:,} already present, in {elapsed:.1f} s{rate}")


def request_headers(args: argparse.Namespace, settings: Settings) -> dict[str, str]:
    """`--header`s, plus (unless one is given) a dev caseworker token and a purpose, as the hub requires."""
    headers = {name.strip().lower(): value.strip() for name, value in (h.split(":", 1) for h in args.header)}
    if "authorization" in headers:
        return headers
    try:
        from hub.auth import PURPOSE_HEADER, ensure_dev_keys, mint_token
    except ImportError:  # a hub without authentication
        return headers
    if not settings.dev:
        raise BenchError("the hub is not in dev mode, so dev tokens are refused: pass --header 'Authorization: …'")
    private_key, _ = ensure_dev_keys(settings.data_dir)  # before the hub starts: it trusts the same pair
    token = mint_token(
        private_key.read_bytes(),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        subject="bench-caseworker",
        roles=[DEV_ROLE],
        ttl=TOKEN_TTL,
    )
    headers["authorization"] = f"Bearer {token}"
    headers.setdefault(PURPOSE_HEADER.lower(), args.purpose)
    return headers


async def benchmark(
    graph: Graph, hub_process: HubProcess, headers: dict[str, str], args: argparse.Namespace, console: Console
) -> tuple[list[Run], int, int]:
    """Returns the runs, the number of people in the graph and the sample size."""
    people = await count_people(graph)
    fraction = min(1.0, SAMPLE_SPREAD * args.sample / max(people, 1))
    ids = await sample_parent_ids(graph, args.sample, fraction)
    if not ids:
        raise BenchError("no person with children and claims in the graph: is it seeded?")
    graph_pid = graph_server_pid()
    connector = aiohttp.TCPConnector(limit=2 * max(max(args.concurrency), CROSS_CHECK_CONCURRENCY))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        hub = HubClient(session, hub_process.url, ids, headers)
        problems = await cross_check(hub, graph, ids)
        console.print(f"cross-check: hub and floor agree on {len(ids) - len(problems)}/{len(ids)} sampled people")
        for problem in problems[:5]:
            console.print(f"  [red]mismatch[/red] {problem[:400]}", markup=True, highlight=False)

        async def floor_call(person_id: str) -> object:
            return await floor_view(graph, person_id)

        runs: list[Run] = []
        for rep in range(1, args.reps + 1):
            for c in args.concurrency:
                for system, call, pid in (("hub", hub.person, hub_process.pid), ("floor", floor_call, os.getpid())):
                    console.print(f"  {system:5} c={c:<3} rep {rep}: {args.warmup:g} s warm-up, {args.duration:g} s")
                    runs.append(await measure(system, call, ids, c, rep, args, pid, graph_pid))
    return runs, people, len(ids)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def report(runs: list[Run], people: int, sampled: int, args: argparse.Namespace, heap: str, console: Console) -> None:
    floors = {(r.rep, r.concurrency): r for r in runs if r.system == "floor"}
    table = Table(
        title=f"caseworker query: {people:,} people, graph heap {heap}, {sampled} sampled parents, "
        f"{args.duration:g} s per run",
        title_justify="left",
    )
    table.add_column("system")
    for name in ("c", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "graph CPU", "loadgen CPU", "÷floor req/s"):
        table.add_column(name, justify="right")
    table.add_column("÷floor p50", justify="right")
    table.add_column("others", justify="right")
    table.add_column("failures", justify="right")
    for r in runs:
        floor = floors.get((r.rep, r.concurrency))
        ratios = ("—", "—")
        if r.system == "hub" and floor is not None and floor.rps:
            ratios = (_fmt(r.rps / floor.rps), _fmt(r.percentile_ms(0.5) / floor.percentile_ms(0.5)))
        table.add_row(
            r.system if args.reps == 1 else f"{r.system} #{r.rep}",
            str(r.concurrency),
            _fmt(r.rps, 0),
            _fmt(r.percentile_ms(0.5)),
            _fmt(r.percentile_ms(0.99)),
            _fmt(r.per_request_ms(r.cpu)),
            _fmt(r.per_request_ms(r.graph_cpu)),
            _fmt(r.per_request_ms(r.client_cpu)),
            *ratios,
            _fmt(r.other_cores),
            str(sum(r.failures.values())),
        )
    console.print(table)
    console.print(
        "CPU ms/req: the hub server process (hub rows); this process, which runs the driver (floor rows).\n"
        "graph CPU: the ArcadeDB server, ms/req. loadgen CPU: this process driving the hub over HTTP, ms/req.\n"
        "÷floor: hub ÷ floor at the same concurrency. others: cores used meanwhile by every other process on\n"
        f"this {os.cpu_count()}-core machine (noise when well above 0). floor: graph.views.caseworker_views, the\n"
        "same data in one Cypher statement through the driver.",
        highlight=False,
    )
    for r in runs:
        for message, count in r.failures.most_common(5):
            console.print(f"[red]{r.system} c={r.concurrency}[/red]: {count} × {message}", highlight=False)


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    def positive_int(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    def positive_float(text: str) -> float:
        value = float(text)
        if not value > 0:
            raise argparse.ArgumentTypeError("must be above 0")
        return value

    def header(text: str) -> str:
        if ":" not in text:
            raise argparse.ArgumentTypeError("expected 'Name: value'")
        return text

    parser = argparse.ArgumentParser(
        prog="python -m bench.caseworker", description="The caseworker query: the hub over HTTP against the floor."
    )
    parser.add_argument("--people", type=positive_int, default=100_000, help="people to seed (default 100000)")
    parser.add_argument("--duration", type=positive_float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=positive_float, default=2.0, help="warm-up seconds per run (default 2)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench"), help="default .data/bench")
    parser.add_argument("--heap", default="2g", help="embedded graph heap, -Xmx (default 2g)")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 32], help="default: 1 32")
    parser.add_argument("--sample", type=positive_int, default=500, help="people the requests cycle through")
    parser.add_argument("--reps", type=positive_int, default=1, help="repetitions of every run (default 1)")
    parser.add_argument(
        "--header", type=header, action="append", default=[], help="extra HTTP header for the hub, 'Name: value'"
    )
    parser.add_argument("--purpose", default="benefits-assessment", help="X-Purpose sent with the dev caseworker token")
    return parser.parse_args(argv)


def _sigterm_as_ctrl_c() -> None:
    """SIGTERM unwinds exactly like Ctrl-C: inside `asyncio.Runner.run` the main task is cancelled
    first (an exception raised from a handler would leave it pending, to resume in the next `run`),
    and either way the `finally` blocks stop the hub and the servers."""

    def handler(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, handler)


def _runner() -> asyncio.Runner:
    """uvloop when available (the hub serves on it too), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 132))
    _sigterm_as_ctrl_c()
    try:
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        heap = settings.embedded_graph_heap if not settings.neo4j_uri else "external graph"
        args.data_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"starting the graph and cache under {args.data_dir} (graph heap {heap})")
        with running_services(settings) as live, _runner() as runner:
            graph = connect_graph(live)
            try:
                runner.run(prepare(graph, args.people, console))
                headers = request_headers(args, live)
                with hub_server(live, args.data_dir) as hub_process:
                    console.print(f"hub: pid {hub_process.pid} at {hub_process.url}")
                    runs, people, sampled = runner.run(benchmark(graph, hub_process, headers, args, console))
            finally:
                with contextlib.suppress(Exception):
                    runner.run(graph.close())
        report(runs, people, sampled, args, heap, console)
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: the hub and the servers were stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
