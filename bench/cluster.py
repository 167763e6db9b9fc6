"""Services that don't go down: three hub replicas behind HAProxy under a steady closed-loop load.

    python -m bench.cluster [--seconds 8] [--concurrency 8]

Starts its own ArcadeDB and Valkey (fixed loopback ports, so they can be stopped and started again),
three `hub serve` replicas and HAProxy (`hub.cluster`), then runs GraphQL queries (GET, idempotent)
and mutations (POST createPerson, plus one client updating a watched person whose events two
subscribers follow over WebSockets through HAProxy) while it:

1. measures a steady state;
2. restarts the three replicas one at a time (SIGTERM, wait for the new one in rotation);
3. SIGKILLs one replica and starts it again;
4. stops Valkey for a few seconds and starts it again;
5. stops the graph server for a few seconds and starts it again.

Then it checks, through the API, that every acknowledged createPerson is in the graph exactly once,
and that each subscriber received every acknowledged update's event (replaying from its last
position after each reconnect). It prints, per phase: requests, failures by cause, p50 and p99, and
the time to recovery after each dependency outage. Figures, not assertions: the test suite asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graph.nino import PREFIXES

QUERY = "query Person($id: ID!) { person(id: $id) { id nino } }"
CREATE = (
    "mutation Create($i: CreatePersonInput!) { createPerson(input: $i) { __typename ... on Person { id version } } }"
)
UPDATE = "mutation Update($i: UpdatePersonInput!) { updatePerson(input: $i) { __typename ... on Person { version } } }"
VERSION = "query Version($id: ID!) { person(id: $id) { version } }"
EVENTS = "subscription Events($p: ID!, $after: String) { personEvents(personId: $p, after: $after) { position } }"
SEARCH = (
    "query Marked($f: String!, $after: String) { people(filter: {familyName: $f}, first: 100, after: $after) "
    "{ nodes { nino familyName } pageInfo { hasNextPage endCursor } } }"
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    updates_acked: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.failed.values())


@dataclass
class Subscriber:
    positions: list[str] = field(default_factory=list)
    reconnects: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)


class Load:
    """A closed loop of GraphQL clients through one URL (HAProxy), with subscribers following one person."""

    def __init__(
        self, url: str, headers: dict[str, str], *, concurrency: int = 8, write_share: float = 0.2, subscribers: int = 2
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = headers
        self.concurrency = concurrency
        self.write_share = write_share
        self.marker = "Load" + "".join(random.choice(string.ascii_lowercase) for _ in range(10))
        self.phase = Phase("warm-up")
        self.phases = [self.phase]
        self.acked: list[str] = []  # NINOs of acknowledged creates
        self.unknown: list[str] = []  # NINOs of creates whose outcome the client never learnt
        self.rejected = 0  # typed refusals (e.g. NinoTaken): answered, nothing written
        self.ids: list[str] = []
        self.updates_acked = 0
        self.updates_unknown = 0
        self.watched: str | None = None
        self.subscribers = [Subscriber() for _ in range(subscribers)]
        self._nino_prefix = random.choice(PREFIXES)
        self._nino_next = random.randrange(0, 900_000)
        self._stop = asyncio.Event()
        self._stop_subscribers = asyncio.Event()

    def begin(self, name: str) -> Phase:
        print(f"{time.strftime('%H:%M:%S')} {name}", file=sys.stderr)
        self.phase.ended = time.monotonic()
        self.phase = Phase(name)
        self.phases.append(self.phase)
        return self.phase

    def _nino(self) -> str:
        self._nino_next += 1
        return f"{self._nino_prefix}{self._nino_next % 1_000_000:06d}{random.choice('ABCD')}"

    async def _call(
        self, session: aiohttp.ClientSession, query: str, variables: dict[str, Any], *, get: bool
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(data, None) on success, (None, cause) on failure; counted in the phase in which it completed."""
        started = time.perf_counter()
        try:
            if get:
                params = {"query": query, "variables": json.dumps(variables)}
                request = session.get(self.url + "/graphql", params=params, headers=self.headers)
            else:
                body = {"query": query, "variables": variables}
                request = session.post(self.url + "/graphql", json=body, headers=self.headers)
            async with request as response:
                payload = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            cause = f"transport {type(exc).__name__}"
        else:
            try:
                result = orjson.loads(payload)
            except orjson.JSONDecodeError:
                result = None
            if status != 200 or not isinstance(result, dict):
                cause = f"http {status}"
            elif result.get("errors"):
                cause = str((result["errors"][0].get("extensions") or {}).get("code", "error"))
            else:
                self.phase.latencies.append(time.perf_counter() - started)
                return result["data"], None
        self.phase.failed[cause] += 1
        return None, cause

    async def _create(self, session: aiohttp.ClientSession) -> None:
        nino = self._nino()
        given = random.choice(["Ann", "Bea", "Cal", "Dev"])
        variables = {"i": {"givenName": given, "familyName": self.marker, "nino": nino}}
        data, cause = await self._call(session, CREATE, variables, get=False)
        if data is None:
            self.unknown.append(nino)
            return
        created = data["createPerson"]
        if created and created["__typename"] == "Person":
            self.acked.append(nino)
            self.ids.append(created["id"])
        else:
            self.rejected += 1

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            if not self.ids or random.random() < self.write_share:
                await self._create(session)
            else:
                await self._call(session, QUERY, {"id": random.choice(self.ids)}, get=True)

    async def _updater(self, session: aiohttp.ClientSession) -> None:
        """One writer of the watched person: every acknowledged update is an event subscribers must get."""
        assert self.watched is not None
        version: int | None = None
        names = ["Ann", "Bea"]
        while not self._stop.is_set():
            if version is None:
                data, _ = await self._call(session, VERSION, {"id": self.watched}, get=True)
                version = data["person"]["version"] if data and data["person"] else None
                if version is None:
                    await asyncio.sleep(0.1)
                    continue
            names.reverse()
            data, _ = await self._call(
                session, UPDATE, {"i": {"id": self.watched, "version": version, "givenName": names[0]}}, get=False
            )
            result = data["updatePerson"] if data else None
            if result and result["__typename"] == "Person":
                self.updates_acked += 1
                self.phase.updates_acked += 1
                version = result["version"]
            else:
                self.updates_unknown += 1 if data is None else 0
                version = None  # re-read: the write may or may not have been applied
            await asyncio.sleep(0.05)

    async def _subscribe(self, sub: Subscriber) -> None:
        assert self.watched is not None
        ws_url = self.url.replace("http://", "ws://") + "/graphql"
        init = {"type": "connection_init", "payload": {k.title(): v for k, v in self.headers.items()}}
        while not self._stop_subscribers.is_set():
            after = sub.positions[-1] if sub.positions else None
            try:
                async with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=5) as ws:  # type: ignore[list-item]
                    await ws.send(orjson.dumps(init).decode())
                    await asyncio.wait_for(ws.recv(), 5)  # connection_ack
                    variables = {"p": self.watched, "after": after}
                    message = {"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}
                    await ws.send(orjson.dumps(message).decode())
                    while not self._stop_subscribers.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        got = orjson.loads(raw)
                        if got.get("type") == "ping":
                            await ws.send('{"type":"pong"}')
                        elif got.get("type") == "next" and (got["payload"].get("data") or {}).get("personEvents"):
                            sub.positions.append(got["payload"]["data"]["personEvents"]["position"])
                        elif got.get("type") in ("error", "complete"):
                            break  # e.g. the cache is down: subscribe again (below), after the last position
                    if self._stop_subscribers.is_set():
                        return
                    sub.close_codes[0] += 1  # 0: the server ended the subscription, not the socket
            except ConnectionClosed as exc:
                sub.close_codes[exc.rcvd.code if exc.rcvd else 1006] += 1
            except (OSError, TimeoutError, InvalidStatus):
                pass
            sub.reconnects += 1
            await asyncio.sleep(0.2)

    async def run(self, during: Callable[[Load], Awaitable[None]]) -> None:
        """Run the load while `during(self)` drives the scenario; then let subscribers catch up."""
        timeout = aiohttp.ClientTimeout(total=30)
        # Idle client connections are dropped before HAProxy's `timeout http-keep-alive` (10 s) would close them
        # under us: reusing a connection the server is closing is a client-side race, not a hub failure.
        connector = aiohttp.TCPConnector(limit=self.concurrency + 4, keepalive_timeout=4)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while self.watched is None:
                await self._create(session)
                self.watched = self.ids[0] if self.ids else None
            subscribers = [asyncio.create_task(self._subscribe(s)) for s in self.subscribers]
            await asyncio.sleep(1.0)  # subscribed before the first update
            workers = [asyncio.create_task(self._client(session)) for _ in range(self.concurrency)]
            workers.append(asyncio.create_task(self._updater(session)))
            try:
                await during(self)
            finally:
                self._stop.set()
                await asyncio.gather(*workers)
                self.phase.ended = time.monotonic()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and any(
                    len(set(s.positions)) < self.updates_acked for s in self.subscribers
                ):
                    await asyncio.sleep(0.1)
                self._stop_subscribers.set()
                await asyncio.gather(*subscribers)

    async def verify(self) -> dict[str, Any]:
        """Count the marked people through the API: acknowledged creates exactly once, unknown ones at most once."""
        found: Counter[str] = Counter()
        after: str | None = None
        self.begin("verification")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while True:
                for attempt in range(20):  # right after an outage a replica may still fail a request
                    data, cause = await self._call(session, SEARCH, {"f": self.marker, "after": after}, get=True)
                    if data is not None:
                        break
                    await asyncio.sleep(0.5 * attempt)
                if data is None:
                    raise RuntimeError(f"verification query failed: {cause}")
                page = data["people"]
                found.update(n["nino"] for n in page["nodes"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
        return {
            "acked": len(self.acked),
            "acked_missing": [n for n in self.acked if found[n] == 0],
            "duplicates": [n for n, c in found.items() if c > 1],
            "unknown": len(self.unknown),
            "unknown_applied": sum(1 for n in self.unknown if found[n]),
            "updates_acked": self.updates_acked,
            "updates_unknown": self.updates_unknown,
            "updates_acked_by_phase": {p.name: p.updates_acked for p in self.phases if p.updates_acked},
            "events_received": [len(set(s.positions)) for s in self.subscribers],
            "events_duplicated": [len(s.positions) - len(set(s.positions)) for s in self.subscribers],
            "reconnects": [s.reconnects for s in self.subscribers],
            "close_codes": [dict(s.close_codes) for s in self.subscribers],
            "verification_failures": dict(self.phase.failed),
        }

    def report(self) -> str:
        lines = [f"{'phase':<22} {'requests':>8} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7}  failures"]
        for p in self.phases:
            if p.name in ("warm-up", "verification"):
                continue
            causes = ", ".join(f"{k}: {v}" for k, v in p.failed.most_common()) or "-"
            lines.append(
                f"{p.name:<22} {p.requests:>8} {sum(p.failed.values()):>6} "
                f"{percentile(p.latencies, 0.5) * 1000:>7.1f} {percentile(p.latencies, 0.99) * 1000:>7.1f}  {causes}"
            )
        return "\n".join(lines)


def wait_until(check: Callable[[], bool], timeout: float = 60) -> float:
    """Seconds until `check()` holds (NaN after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            return float("nan")
        time.sleep(0.05)
    return time.monotonic() - started


def main() -> int:  # pragma: no cover - a benchmark, run by hand
    from hub.auth import ensure_dev_keys, mint_token
    from hub.cluster import Cluster, free_port
    from hub.embedded import ArcadeDBServer, ValkeyServer
    from hub.logs import configure_logging
    from hub.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the steady phases")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds each dependency stays down")
    args = parser.parse_args()
    configure_logging("WARNING")
    data = Path(tempfile.mkdtemp(prefix="hub-bench-cluster-"))
    outages: dict[str, float] = {}
    with (
        ArcadeDBServer(data, bolt_port=free_port(), http_port=free_port()) as graph,
        ValkeyServer(data, port=free_port()) as cache,
    ):
        settings = load_settings(
            data_dir=data,
            neo4j_uri=graph.bolt_uri,
            neo4j_user=graph.user,
            neo4j_password=graph.password,
            neo4j_database=graph.database,
            redis_url=cache.url,
        )
        private, _ = ensure_dev_keys(data)
        token = mint_token(
            private.read_bytes(),
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            subject="bench-caseworker",
            roles=["caseworker"],
        )
        headers = {"authorization": f"Bearer {token}", "x-purpose": "child-maintenance"}
        env = {"HUB_RATE_LIMIT_PER_MINUTE": "0", "HUB_LOG_LEVEL": "WARNING"}
        with Cluster(settings, replicas=3, port=free_port(), env=env) as cluster:
            load = Load(cluster.url, headers, concurrency=args.concurrency)
            done = threading.Event()

            async def until_done(load: Load) -> None:
                while not done.is_set():
                    await asyncio.sleep(0.1)

            # The load runs in its own thread and event loop; the scenario runs here, on the main thread,
            # which must be the one that starts the embedded servers (their parent-death signal follows
            # the starting thread: started from a short-lived thread, they would die with it).
            loader = threading.Thread(target=lambda: asyncio.run(load.run(until_done)), name="load")
            loader.start()
            try:
                time.sleep(2)
                load.begin("steady")
                time.sleep(args.seconds)
                load.begin("rolling restart")
                took = cluster.rolling_restart()
                print("replicas replaced in " + ", ".join(f"{t:.1f} s" for t in took), file=sys.stderr)
                load.begin("after restart")
                time.sleep(args.seconds)
                load.begin("SIGKILL one replica")
                cluster.restart(cluster.replicas[1], signal.SIGKILL)
                load.begin("cache outage")
                cache.stop()
                time.sleep(args.outage)
                cache.start()
                outages["cache"] = wait_until(lambda: all(r.ready() for r in cluster.replicas))
                load.begin("graph outage")
                graph.stop()
                time.sleep(args.outage)
                graph.start()
                outages["graph"] = wait_until(lambda: all(r.ready() for r in cluster.replicas), 120)
                load.begin("recovered")
                time.sleep(args.seconds)
            finally:
                done.set()
                loader.join()
            print(load.report())
            checked = asyncio.run(load.verify())
            for name, seconds in outages.items():
                print(f"{name} restarted: all replicas ready again after {seconds:.2f} s (outage {args.outage:.0f} s)")
            steady = next(p for p in load.phases if p.name == "steady")
            rolling = next(p for p in load.phases if p.name == "rolling restart")
            print(
                f"rolling restart: {sum(rolling.failed.values())} failed of {rolling.requests}; p99 "
                f"{percentile(rolling.latencies, 0.99) * 1000:.1f} ms vs steady "
                f"{percentile(steady.latencies, 0.99) * 1000:.1f} ms "
                f"(x{percentile(rolling.latencies, 0.99) / percentile(steady.latencies, 0.99):.2f})"
            )
            print(json.dumps(checked))
            print("replica exit codes: " + ", ".join(f"{r.name} {r.exit_codes}" for r in cluster.replicas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
