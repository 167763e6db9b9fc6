"""Event → subscriber latency: two hub replicas, 1,000 WebSocket subscribers, webhooks posted to replica A.

    python -m bench.events [--subscribers 1000] [--events 10] [--data-dir .data/bench-events]

1. Starts the embedded graph and cache (`hub.services.running_services`) and opens one child-maintenance
   case (paying parent, receiving parent, child, a monthly schedule).
2. Starts two hub replicas (`hub serve`, two processes on loopback) against the same graph and cache.
3. Baseline: one subscriber on replica B. Then the load: `--subscribers` sockets split evenly across A and
   B. Every socket speaks graphql-transport-ws, authenticates in `connection_init` with its own caseworker
   token and subscribes to `personEvents` of the paying parent (so every subscriber hears every payment:
   the worst case of fan-out).
4. For each of `--events` payments: a signed Standard Webhook to replica A; the next is sent once every
   subscriber has the last one (or after `--timeout` seconds), so events never queue behind each other.
5. Prints, per run, the latency from the event's publication (its `at`, stamped by replica A after the
   commit) to each subscriber's receipt, and from the webhook's send to receipt: p50 / p99 / max, with
   the 1,000-subscriber figures as a ratio of the 1-subscriber baseline measured in the same run.

Figures only, nothing asserted. Each emission is audited before it is sent (as any read of personal data),
so the figures include one audit record per subscriber per event.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table
from standardwebhooks.webhooks import Webhook
from websockets.asyncio.client import ClientConnection, connect

from bench.caseworker import BenchError, HubProcess, _runner, _sigterm_as_ctrl_c, hub_server
from graph import maintenance
from graph.driver import Graph
from graph.migrations import migrate
from graph.models import NewPerson
from graph.money import Frequency, Scheme
from graph.person import create_person
from hub.app import connect_graph
from hub.auth import ensure_dev_keys, mint_token
from hub.embedded import EmbeddedError
from hub.services import running_services
from hub.settings import Settings, SettingsError, load_settings

CONNECTOR = "bench"
PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = "subscription($p: ID!) { personEvents(personId: $p) { __typename ... on PaymentReceived { at } } }"
CONNECT_CONCURRENCY = 50
TOKEN_TTL = 3600


@dataclass(slots=True)
class Subscriber:
    ws: ClientConnection
    received: dict[str, float] = field(default_factory=dict)  # event `at` -> receipt time (epoch seconds)
    errors: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self, arrived: asyncio.Event) -> None:
        async for raw in self.ws:
            now = time.time()
            message = orjson.loads(raw)
            if message.get("type") == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    self.errors.append(str(payload["errors"][0].get("message")))
                event = (payload.get("data") or {}).get("personEvents") or {}
                if event.get("at"):
                    self.received[event["at"]] = now
                    arrived.set()
            elif message.get("type") in {"error", "complete"}:
                self.errors.append(str(message.get("payload")))


def ws_url(hub: HubProcess) -> str:
    return hub.url.replace("http://", "ws://")


async def subscribe(url: str, token: str, person_id: str, arrived: asyncio.Event) -> Subscriber:
    ws = await connect(url, subprotocols=[PROTOCOL], max_queue=None, open_timeout=60)  # type: ignore[list-item]
    init = {"Authorization": f"Bearer {token}", "X-Purpose": "child-maintenance"}
    await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
    ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
    if ack.get("type") != "connection_ack":
        raise BenchError(f"a subscriber was refused: {ack}")
    message = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"p": person_id}}}
    await ws.send(orjson.dumps(message).decode())
    sub = Subscriber(ws)
    sub.reader = asyncio.create_task(sub.read(arrived))
    return sub


async def open_subscribers(
    hubs: Sequence[HubProcess], tokens: Sequence[str], person_id: str, arrived: asyncio.Event
) -> list[Subscriber]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(i: int) -> Subscriber:
        async with gate:
            return await subscribe(ws_url(hubs[i % len(hubs)]), tokens[i], person_id, arrived)

    return list(await asyncio.gather(*(one(i) for i in range(len(tokens)))))


async def close_subscribers(subs: Sequence[Subscriber]) -> None:
    for sub in subs:
        if sub.reader is not None:
            sub.reader.cancel()
    await asyncio.gather(*(sub.ws.close() for sub in subs), return_exceptions=True)


async def post_payment(session: aiohttp.ClientSession, hub: HubProcess, secret: str, case_id: str) -> float:
    """A signed `payment.received` webhook to `hub`; the time it was sent."""
    body = orjson.dumps(
        {
            "type": "payment.received",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "caseId": case_id,
                "amountPencePaid": 100,
                "paidAt": datetime.now(UTC).isoformat(),
                "reference": f"bench-{uuid.uuid4()}",
            },
        }
    )
    webhook_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }
    sent = time.time()
    url = hub.url.removesuffix("/graphql") + f"/webhooks/{CONNECTOR}"
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.text()
        if response.status != 200:
            raise BenchError(f"webhook refused: HTTP {response.status} {text[:200]}")
    return sent


async def wait_all(subs: Sequence[Subscriber], arrived: asyncio.Event, count: int, timeout: float) -> None:
    """Until every subscriber has `count` events, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while any(len(s.received) < count for s in subs):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), min(left, 0.5))


@dataclass(slots=True)
class Result:
    subscribers: int
    events: int
    from_event: list[float]  # seconds, sorted
    from_send: list[float]
    missing: int
    errors: int
    connect_seconds: float

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return math.nan
        return values[max(0, math.ceil(q * len(values)) - 1)] * 1000


async def run(
    hubs: Sequence[HubProcess],
    target: HubProcess,
    tokens: Sequence[str],
    person_id: str,
    case_id: str,
    secret: str,
    events: int,
    timeout: float,
) -> Result:
    arrived = asyncio.Event()
    began = time.perf_counter()
    subs = await open_subscribers(hubs, tokens, person_id, arrived)
    connect_seconds = time.perf_counter() - began
    try:
        async with aiohttp.ClientSession() as session:
            # Warm-up event: proves every subscription is live before anything is measured.
            await post_payment(session, target, secret, case_id)
            await wait_all(subs, arrived, 1, 120)
            not_live = sum(1 for s in subs if not s.received)
            if not_live:
                raise BenchError(f"{not_live} of {len(subs)} subscribers never heard the warm-up event")
            for s in subs:
                s.received.clear()
            sent: list[float] = []
            for n in range(events):
                sent.append(await post_payment(session, target, secret, case_id))
                await wait_all(subs, arrived, n + 1, timeout)
    finally:
        await close_subscribers(subs)
    from_event, from_send, missing = [], [], 0
    for s in subs:
        times = sorted(s.received.items())  # by event `at`: the order the events were sent in
        missing += events - len(times)
        for (at, got), post in zip(times, sent, strict=False):
            from_event.append(got - datetime.fromisoformat(at).timestamp())
            from_send.append(got - post)
    return Result(
        len(subs),
        events,
        sorted(from_event),
        sorted(from_send),
        missing,
        sum(len(s.errors) for s in subs),
        connect_seconds,
    )


async def prepare(graph: Graph) -> tuple[str, str]:
    """A case: (the paying parent's id, the case id)."""
    await migrate(graph)
    people = []
    for given, born in (("Paula", date(1980, 1, 1)), ("Rob", date(1981, 2, 2)), ("Kit", date(2015, 3, 3))):
        nino = "BE" + str(uuid.uuid4().int % 1_000_000).zfill(6) + "A"
        people.append(
            await create_person(graph, NewPerson(given_name=given, family_name="Bench", nino=nino, date_of_birth=born))
        )
    payer, receiver, child = people
    case = await maintenance.create_case(graph, Scheme.COLLECT_AND_PAY, payer.id, receiver.id, [child.id])
    await maintenance.add_schedule(graph, case.id, 10_000, Frequency.MONTHLY, date.today() - timedelta(days=30))
    return payer.id, case.id


def tokens_for(settings: Settings, n: int) -> list[str]:
    private_key, jwks = ensure_dev_keys(settings.data_dir)
    os.environ["HUB_AUTH_JWKS_FILE"] = str(jwks.resolve())  # both replicas (started next) trust this pair
    key = private_key.read_bytes()
    return [
        mint_token(
            key,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            subject=f"bench-subscriber-{i}",
            roles=["caseworker"],
            ttl=TOKEN_TTL,
        )
        for i in range(n)
    ]


def report(baseline: Result, load: Result, console: Console) -> None:
    table = Table(title="event → subscriber latency (webhooks to replica A; subscribers on A and B)")
    for name in ("subscribers", "deliveries", "missing", "connect s", "p50 ms", "p99 ms", "max ms",
                 "send→recv p50", "send→recv p99", "p50 ratio", "p99 ratio"):  # fmt: skip
        table.add_column(name, justify="right")
    for r in (baseline, load):
        p50, p99 = r.pct(r.from_event, 0.5), r.pct(r.from_event, 0.99)
        b50, b99 = baseline.pct(baseline.from_event, 0.5), baseline.pct(baseline.from_event, 0.99)
        table.add_row(
            f"{r.subscribers:,}",
            f"{len(r.from_event):,}",
            f"{r.missing:,}",
            f"{r.connect_seconds:.1f}",
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"{r.pct(r.from_event, 1.0):.1f}",
            f"{r.pct(r.from_send, 0.5):.1f}",
            f"{r.pct(r.from_send, 0.99):.1f}",
            f"{p50 / b50:.1f}x",
            f"{p99 / b99:.1f}x",
        )
    console.print(table)
    if baseline.errors or load.errors:
        console.print(f"[red]subscription errors: baseline {baseline.errors}, load {load.errors}[/red]")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="sockets across the two replicas (1000)")
    parser.add_argument("--events", type=int, default=10, help="payments measured per run (default 10)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one event's deliveries")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench-events"), help="default .data/bench-events")
    parser.add_argument("--heap", default="1g", help="embedded graph heap, -Xmx (default 1g)")
    args = parser.parse_args(argv)
    if args.subscribers < 2 or args.events < 1 or args.timeout <= 0:
        parser.error("--subscribers must be at least 2, --events at least 1, --timeout above 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 140))
    _sigterm_as_ctrl_c()
    # The replicas read the webhook secret from the environment they inherit.
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    os.environ[f"HUB_WEBHOOK_SECRET_{CONNECTOR.upper()}"] = secret
    try:
        settings = load_settings(data_dir=args.data_dir, embedded_graph_heap=args.heap)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"starting the graph and cache under {args.data_dir}")
        with running_services(settings) as live, _runner() as runner:
            graph = connect_graph(live)
            try:
                person_id, case_id = runner.run(prepare(graph))
                tokens = tokens_for(live, args.subscribers)
                a_dir, b_dir = args.data_dir / "replica-a", args.data_dir / "replica-b"
                for d in (a_dir, b_dir):
                    d.mkdir(exist_ok=True)  # each replica's own log
                with hub_server(live, a_dir) as a, hub_server(live, b_dir) as b:
                    console.print(f"replica A: pid {a.pid} {a.url}; replica B: pid {b.pid} {b.url}")
                    measure = (person_id, case_id, secret, args.events, args.timeout)
                    baseline = runner.run(run([b], a, tokens[:1], *measure))
                    console.print(f"baseline done; opening {args.subscribers} subscribers")
                    load = runner.run(run([a, b], a, tokens, *measure))
            finally:
                with contextlib.suppress(Exception):
                    runner.run(graph.close())
        report(baseline, load, console)
    except (SettingsError, EmbeddedError, BenchError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: the hubs and the servers were stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
