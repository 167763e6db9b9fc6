"""The connector-path benchmark: what the shared cache, coalescing and the breaker buy, measured in one run.

    python -m bench.connectors [--keys 300] [--duration 6] [--concurrency 8]

Everything is real: sandbox upstreams (aiohttp on loopback, OAuth2, batches), a valkey-server child process
for the cache, the hub's `Source` (cache, coalescing, retries, timeouts, breaker, bulkhead) in this process.

1. **Cold vs cached**: one key per fetch, `--keys` keys — first from the upstream through the whole policy
   (cold), then the same keys again from Redis (cached). Baseline in the same run: the bare HTTP call to the
   sandbox with one shared session (what a fetch could cost without any of the machinery).
2. **Coalescing**: 100 concurrent asks for one fresh key → upstream calls counted *at the sandbox*; and the
   same 100 asks as plain concurrent HTTP calls (no coalescing) for comparison.
3. **One upstream hung**: a "query" reads two connectors at once (a healthy one, one whose upstream accepts
   and never answers), closed loop at `--concurrency` for `--duration` seconds, with the breaker on (the
   hub's policy) and off (threshold never reached); baseline: the same loop with both upstreams healthy.
   The hung connector's budget is `timeout.total` = 1 s, so no query may take longer than that.

Prints figures and ratios; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from connectors.cache import RecordCache
from connectors.http import create_session
from connectors.kinds.social_profile import SocialProfileConnector
from connectors.registry import build_connector
from connectors.sandbox import Fault, SandboxState, SocialSandbox
from connectors.source import Source
from connectors.switches import Switches
from hub.embedded import ValkeyServer

ENV = {"SOCIAL_CLIENT_ID": "bench-client", "SOCIAL_CLIENT_SECRET": "bench-secret"}
HUNG_BUDGET = 1.0  # seconds: timeout.total of the hung connector


def document(name: str, url: str, **policy: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "kind": "social_profile",
        "description": "bench",
        "owner": "bench",
        "lawful_basis": "consent",
        "purpose": "bench",
        "consent_required": True,
        "settings": {"base_url": url, "client_id": "SOCIAL_CLIENT_ID", "client_secret": "SOCIAL_CLIENT_SECRET"},
        "cache": {"ttl": 600, "max_staleness": 600},
        "bulkhead": {"max_concurrent": 50, "max_waiting": 1000},
    }
    doc.update(policy)
    return doc


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


async def cold_vs_cached(
    session: aiohttp.ClientSession, cache: RecordCache, sandbox: SocialSandbox, keys: int
) -> dict[str, list[float]]:
    source = Source(
        build_connector(SocialProfileConnector, document("bench_cold", sandbox.url), session=session, environ=ENV),
        cache=cache,
        switches=Switches(cache.redis, key="bench:switch"),  # as in the hub: the on/off switch read per fetch
    )
    names = [f"cold-{i}" for i in range(keys)]
    try:
        await source.fetch_one("warm-up")  # the token, the connection pool
        token = await source.connector.auth.token()  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {token}"}

        async def bare(key: str) -> None:
            async with session.get(f"{sandbox.url}/v1/profiles/{key}", headers=headers) as response:
                await response.read()

        baseline = await timed([lambda k=k: bare(k) for k in names])  # type: ignore[misc]
        cold = await timed([lambda k=k: source.fetch_one(k) for k in names])  # type: ignore[misc]
        cached = await timed([lambda k=k: source.fetch_one(k) for k in names])  # type: ignore[misc]
        assert source.snapshot().cache_hits >= keys, "the second pass was answered from the cache"
    finally:
        await source.aclose()
    return {"bare HTTP call (baseline)": baseline, "cold fetch": cold, "cached fetch": cached}


async def coalescing(session: aiohttp.ClientSession, cache: RecordCache, sandbox: SocialSandbox) -> dict[str, Any]:
    source = Source(
        build_connector(SocialProfileConnector, document("bench_coalesce", sandbox.url), session=session, environ=ENV),
        cache=cache,
        switches=Switches(cache.redis, key="bench:switch"),  # as in the hub: the on/off switch read per fetch
    )
    try:
        await source.fetch_one("warm-up")
        token = await source.connector.auth.token()  # type: ignore[attr-defined]
        sandbox.state.calls.clear()
        sandbox.state.inject(Fault(mode="latency", latency=0.05))  # a realistic upstream: 50 ms
        started = time.perf_counter()
        results = await asyncio.gather(*(source.fetch_one("hot-key") for _ in range(100)))
        coalesced_s = time.perf_counter() - started
        coalesced_calls = sandbox.state.api_calls
        assert all(r.ok for r in results)

        sandbox.state.calls.clear()

        async def bare() -> None:
            async with session.get(
                f"{sandbox.url}/v1/profiles/hot-key", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(bare() for _ in range(100)))
        bare_s = time.perf_counter() - started
        bare_calls = sandbox.state.api_calls
    finally:
        sandbox.state.clear()
        await source.aclose()
    return {
        "asks": 100,
        "coalesced_calls": coalesced_calls,
        "coalesced_s": coalesced_s,
        "bare_calls": bare_calls,
        "bare_s": bare_s,
    }


async def hung_loop(
    session: aiohttp.ClientSession,
    healthy: SocialSandbox,
    other: SocialSandbox,
    *,
    breaker: bool,
    hung: bool,
    duration: float,
    concurrency: int,
) -> list[float]:
    policy = {
        "timeout": {"attempt": HUNG_BUDGET, "total": HUNG_BUDGET},
        "retry": {"attempts": 1},
        "breaker": {"failure_threshold": 5 if breaker else 10**6, "reset_timeout": 5.0},
        "cache": {"enabled": False},
    }
    a = Source(
        build_connector(
            SocialProfileConnector,
            document("bench_healthy", healthy.url, cache={"enabled": False}),
            session=session,
            environ=ENV,
        )
    )
    b = Source(
        build_connector(
            SocialProfileConnector, document("bench_hung", other.url, **policy), session=session, environ=ENV
        )
    )
    try:
        await asyncio.gather(a.fetch_one("warm-up"), b.fetch_one("warm-up"))
        if hung:
            other.state.inject(Fault(mode="hang"))
        latencies: list[float] = []
        deadline = time.perf_counter() + duration
        counter = iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < deadline:
                n = next(counter)
                started = time.perf_counter()
                await asyncio.gather(a.fetch_one(f"q-{n}"), b.fetch_one(f"q-{n}"))  # one query, two connectors
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        other.state.clear()
        await a.aclose()
        await b.aclose()
    return latencies


async def run(args: argparse.Namespace, console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp, ValkeyServer(Path(tmp)) as valkey:
        redis = aioredis.Redis.from_url(valkey.url)
        state = lambda: SandboxState(client_id=ENV["SOCIAL_CLIENT_ID"], client_secret=ENV["SOCIAL_CLIENT_SECRET"])  # noqa: E731
        try:
            async with create_session() as session, SocialSandbox(state()) as one, SocialSandbox(state()) as two:
                cache = RecordCache(redis, prefix="bench")
                console.print(f"cold vs cached: {args.keys} keys, one per fetch …")
                latency = await cold_vs_cached(session, cache, one, args.keys)
                console.print("coalescing: 100 concurrent asks for one key …")
                coalesce = await coalescing(session, cache, one)
                loops: dict[str, list[float]] = {}
                for label, breaker, hung in (
                    ("both upstreams healthy (baseline)", True, False),
                    ("one hung, breaker on (hub policy)", True, True),
                    ("one hung, breaker off", False, True),
                ):
                    console.print(f"query loop, {label}: {args.duration:g} s at c={args.concurrency} …")
                    loops[label] = await hung_loop(
                        session,
                        one,
                        two,
                        breaker=breaker,
                        hung=hung,
                        duration=args.duration,
                        concurrency=args.concurrency,
                    )
        finally:
            await redis.aclose()
    report(latency, coalesce, loops, args, console)


def report(
    latency: dict[str, list[float]],
    coalesce: dict[str, Any],
    loops: dict[str, list[float]],
    args: argparse.Namespace,
    console: Console,
) -> None:
    table = Table(title=f"Fetch latency, one key per fetch ({args.keys} keys), ms")
    for column in ("path", "p50", "p99", "mean", "× cached p50"):
        table.add_column(column, justify="right" if column != "path" else "left")
    cached_p50 = percentile(latency["cached fetch"], 50)
    for label, samples in latency.items():
        table.add_row(
            label,
            ms(percentile(samples, 50)),
            ms(percentile(samples, 99)),
            ms(statistics.fmean(samples)),
            f"{percentile(samples, 50) / cached_p50:.1f}",
        )
    console.print(table)
    cold, cached = percentile(latency["cold fetch"], 50), cached_p50
    console.print(
        f"cached fetch is {cold / cached:.1f}x faster than cold at p50 (cold {ms(cold)} ms, cached {ms(cached)} ms)"
    )

    console.print(
        f"coalescing: {coalesce['asks']} concurrent asks for one key -> {coalesce['coalesced_calls']} upstream call(s) "
        f"in {ms(coalesce['coalesced_s'])} ms; without coalescing {coalesce['bare_calls']} calls "
        f"in {ms(coalesce['bare_s'])} ms "
        f"(ratio {coalesce['bare_calls'] / max(1, coalesce['coalesced_calls']):.0f}:1 upstream calls)"
    )

    table = Table(title=f"A query reading two connectors, closed loop c={args.concurrency}, {args.duration:g} s, ms")
    for column in ("upstreams", "queries", "p50", "p99", "max", "p99 ÷ budget"):
        table.add_column(column, justify="right" if column != "upstreams" else "left")
    for label, samples in loops.items():
        p99 = percentile(samples, 99)
        table.add_row(
            label, str(len(samples)), ms(percentile(samples, 50)), ms(p99), ms(max(samples)), f"{p99 / HUNG_BUDGET:.2f}"
        )
    console.print(table)
    on = loops["one hung, breaker on (hub policy)"]
    off = loops["one hung, breaker off"]
    base = loops["both upstreams healthy (baseline)"]
    console.print(
        f"with one upstream hung: max {ms(max(on))} ms against a {HUNG_BUDGET * 1000:.0f} ms budget; "
        f"breaker on serves {len(on) / len(off):.0f}x the queries of breaker off, p50 {ms(percentile(on, 50))} vs "
        f"{ms(percentile(off, 50))} ms (healthy p50 {ms(percentile(base, 50))} ms)"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.connectors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=300, help="keys for cold vs cached (default 300)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per query loop (default 6)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent queries in the loops (default 8)")
    args = parser.parse_args(argv)
    if args.keys < 1 or args.duration <= 0 or args.concurrency < 1:
        parser.error("--keys and --concurrency must be at least 1, --duration above 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console(stderr=False, width=140)
    try:
        asyncio.run(run(args, console))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
