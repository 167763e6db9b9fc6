"""Audit trail of personal-data reads: durable, tamper-evident, queryable per person.

One `AccessEvent` per request that read personal data, linked to each person read by an
`ACCESSED {fields}` relationship. Events form hash chains: each event stores the hash of the
previous event in its chain, and its own hash over its content, so an edited event no longer
matches its hash and a deleted one leaves a gap in the sequence.

Each hub process appends to a chain of its own through one `AuditTrail` writer that batches the
events of concurrent requests into one transaction (each request still waits for its event to be
committed). Concurrent single-event transactions contend on the graph server (ArcadeDB reports
page and edge-list conflicts, retried after a second or more); one writer per process does not.
The chain head is still locked write-first, so even two writers on one chain could never fork it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from neo4j.exceptions import ConstraintError

from graph.driver import Graph, Tx

GENESIS = "0" * 64
DEFAULT_CHAIN = "default"
MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Actor:
    subject: str
    role: str
    department: str | None
    purpose: str | None


@dataclass(frozen=True, slots=True)
class AccessEntry:
    event_id: str
    at: datetime
    actor: str
    actor_role: str
    actor_department: str | None
    purpose: str | None
    request_id: str
    person_id: str
    fields: tuple[str, ...]


def _content(props: Mapping[str, object]) -> bytes:
    keys = ("id", "at", "actor", "actorRole", "actorDepartment", "purpose", "requestId", "reads", "chain", "seq")
    return orjson.dumps({k: props.get(k) for k in keys}, option=orjson.OPT_SORT_KEYS)


def event_hash(prev: str, props: Mapping[str, object]) -> str:
    return hashlib.sha256(prev.encode() + _content(props)).hexdigest()


async def ensure_chain(graph: Graph, chain: str) -> None:
    async def work(tx: Tx) -> None:
        await tx.fetch(
            "MERGE (c:AuditChain {id: $chain}) ON CREATE SET c.seq = 0, c.head = $genesis",
            {"chain": chain, "genesis": GENESIS},
        )

    try:
        await graph.write(work)
    except ConstraintError:
        pass  # created concurrently by another writer (ArcadeDB's MERGE raises instead of matching)


def new_event(
    actor: Actor, request_id: str, reads: Mapping[str, Sequence[str]], at: datetime | None = None
) -> dict[str, Any]:
    """An event's content, before it takes its place (chain, seq, hashes) in a chain."""
    reads_list = [[pid, sorted(set(fields))] for pid, fields in sorted(reads.items())]
    return {
        "id": str(uuid.uuid4()),
        "at": (at or datetime.now(UTC)).isoformat(timespec="microseconds"),
        "actor": actor.subject,
        "actorRole": actor.role,
        "actorDepartment": actor.department,
        "purpose": actor.purpose,
        "requestId": request_id,
        "reads": orjson.dumps(reads_list).decode(),
    }


def _chained(chain: str, events: Sequence[dict[str, Any]], seq: int, prev: str) -> tuple[list[dict[str, Any]], str]:
    """Rows for `events` appended after (`seq`, `prev`): sequence numbers and hashes; and the new head."""
    rows = []
    for event in events:
        seq += 1
        props = {**event, "chain": chain, "seq": seq, "prevHash": prev}
        props["hash"] = prev = event_hash(prev, props)
        reads = [{"person": p, "fields": f} for p, f in orjson.loads(event["reads"])]
        rows.append({"props": props, "reads": reads})
    return rows, prev


_CREATE_EVENTS = (
    "WITH c UNWIND $rows AS row CREATE (e:AccessEvent) SET e = row.props "
    "WITH e, row UNWIND row.reads AS r MATCH (p:Person {id: r.person}) "
    "CREATE (e)-[:ACCESSED {fields: r.fields}]->(p)"
)


class ChainMoved(Exception):
    """The chain's head is not where this writer last left it (another writer appended)."""


async def append_events(graph: Graph, chain: str, events: Sequence[dict[str, Any]]) -> tuple[int, str]:
    """Append `events` to `chain` in one transaction (all or none); returns the new (seq, head hash)."""

    async def work(tx: Tx) -> tuple[int, str]:
        # Write first: bumping seq takes the row lock, so a second writer on this chain would queue here.
        head = await tx.fetch_one(
            "MATCH (c:AuditChain {id: $chain}) SET c.seq = c.seq + $n RETURN c.seq - $n AS seq, c.head AS head",
            {"chain": chain, "n": len(events)},
        )
        if head is None:
            raise RuntimeError(f"audit chain {chain} does not exist")
        rows, new_head = _chained(chain, events, head["seq"], head["head"])
        await tx.fetch(
            f"MATCH (c:AuditChain {{id: $chain}}) SET c.head = $head {_CREATE_EVENTS}",
            {"chain": chain, "head": new_head, "rows": rows},
        )
        return head["seq"] + len(events), new_head

    return await graph.write(work)


async def append_events_after(
    graph: Graph, chain: str, events: Sequence[dict[str, Any]], seq: int, head: str
) -> tuple[int, str]:
    """`append_events` in ONE statement, for a writer that knows where it left the chain (`seq`, `head`).

    Write first, then check (shared PLATFORM.md): the seq bump takes the row lock, and the statement
    goes on only if the chain was at `seq`; otherwise nothing is returned, the transaction is rolled
    back and `ChainMoved` raised, and the caller appends with `append_events` (which reads the head).
    The chain can never fork either way. Also raised if a person read no longer exists (the edges
    the statement counts would be fewer); `append_events` then records the event without them.
    """
    rows, new_head = _chained(chain, events, seq, head)
    edges = sum(len(r["reads"]) for r in rows)

    async def work(tx: Tx) -> tuple[int, str]:
        found = await tx.fetch_one(
            "MATCH (c:AuditChain {id: $chain}) SET c.seq = c.seq + $n WITH c WHERE c.seq = $expected "
            f"SET c.head = $head {_CREATE_EVENTS} RETURN count(*) AS edges",
            {"chain": chain, "n": len(events), "expected": seq + len(events), "head": new_head, "rows": rows},
        )
        if not found or found["edges"] != edges:
            raise ChainMoved(chain)  # rolls the transaction back
        return seq + len(events), new_head

    return await graph.write(work)


async def record_access(
    graph: Graph,
    actor: Actor,
    request_id: str,
    reads: Mapping[str, Sequence[str]],
    at: datetime | None = None,
    chain: str = DEFAULT_CHAIN,
) -> str:
    """Durably record one access on `chain` (for one-off writers such as the CLI); returns the event id."""
    event = new_event(actor, request_id, reads, at)
    await ensure_chain(graph, chain)
    await append_events(graph, chain, [event])
    return str(event["id"])


class AuditTrail:
    """This process's audit writer: batches concurrent requests' events into one transaction each.

    `record` returns once the event is committed, so a response never leaves before its record.
    """

    def __init__(self, graph: Graph, chain: str | None = None) -> None:
        self.graph = graph
        self.chain = chain or f"hub-{uuid.uuid4()}"
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[str]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Where this writer left its chain: lets the next append be one statement (append_events_after).
        self._head: tuple[int, str] | None = None

    async def start(self) -> None:
        await ensure_chain(self.graph, self.chain)
        self._task = asyncio.create_task(self._drain(), name="audit-writer")

    async def close(self) -> None:
        if self._task is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def record(self, actor: Actor, request_id: str, reads: Mapping[str, Sequence[str]]) -> str:
        if self._task is None or self._task.done():
            raise RuntimeError("the audit writer is not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((new_event(actor, request_id, reads), future))
        return await future

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._append([event for event, _ in batch])
            except Exception as exc:  # every waiting request learns its record was not written
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for event, future in batch:
                    if not future.done():
                        future.set_result(str(event["id"]))

    async def _append(self, events: list[dict[str, Any]]) -> None:
        if self._head is not None:
            try:
                self._head = await append_events_after(self.graph, self.chain, events, *self._head)
                return
            except ChainMoved:
                pass
        self._head = None  # unknown until the locked read-then-append below succeeds
        self._head = await append_events(self.graph, self.chain, events)


def _entry(row: dict[str, object]) -> AccessEntry:
    e = row["e"]
    assert isinstance(e, dict)
    return AccessEntry(
        event_id=e["id"],
        at=datetime.fromisoformat(e["at"]),
        actor=e["actor"],
        actor_role=e["actorRole"],
        actor_department=e.get("actorDepartment"),
        purpose=e.get("purpose"),
        request_id=e["requestId"],
        person_id=str(row["person"]),
        fields=tuple(row["fields"]),  # type: ignore[arg-type]
    )


_EVENT = "e {.id, .at, .actor, .actorRole, .actorDepartment, .purpose, .requestId}"


async def access_log(graph: Graph, person_ids: Sequence[str], limit: int = 50) -> list[list[AccessEntry]]:
    """Newest first, per person (batched for a DataLoader)."""

    async def work(tx: Tx) -> list[list[AccessEntry]]:
        rows = await tx.fetch(
            "UNWIND $ids AS i MATCH (p:Person {id: i})<-[a:ACCESSED]-(e:AccessEvent) "
            f"RETURN i AS person, {_EVENT} AS e, a.fields AS fields ORDER BY e.at DESC",
            {"ids": list(person_ids)},
        )
        found: dict[str, list[AccessEntry]] = {i: [] for i in person_ids}
        for row in rows:
            bucket = found[str(row["person"])]
            if len(bucket) < limit:
                bucket.append(_entry(row))
        return [found[i] for i in person_ids]

    return await graph.read(work)


async def events_by_actor(graph: Graph, actor: str, limit: int = 100) -> list[AccessEntry]:
    async def work(tx: Tx) -> list[AccessEntry]:
        rows = await tx.fetch(
            "MATCH (e:AccessEvent {actor: $actor})-[a:ACCESSED]->(p:Person) "
            f"RETURN p.id AS person, {_EVENT} AS e, a.fields AS fields ORDER BY e.at DESC LIMIT $limit",
            {"actor": actor, "limit": limit},
        )
        return [_entry(r) for r in rows]

    return await graph.read(work)


async def verify_chains(graph: Graph) -> list[str]:
    """Walk every chain; return the problems found (empty: intact)."""

    async def work(tx: Tx) -> list[str]:
        problems: list[str] = []
        chains = await tx.fetch("MATCH (c:AuditChain) RETURN c.id AS k, c.seq AS seq, c.head AS head")
        for chain in sorted(chains, key=lambda c: str(c["k"])):
            k = chain["k"]
            rows = await tx.fetch("MATCH (e:AccessEvent {chain: $k}) RETURN e {.*} AS e ORDER BY e.seq", {"k": k})
            prev, expected_seq = GENESIS, 1
            for row in rows:
                e = row["e"]
                if e["seq"] != expected_seq:
                    problems.append(f"chain {k}: event #{expected_seq} is missing (next found is #{e['seq']})")
                if e["prevHash"] != prev:
                    problems.append(f"chain {k}: event #{e['seq']} does not follow the event before it")
                if event_hash(e["prevHash"], e) != e["hash"]:
                    problems.append(f"chain {k}: event #{e['seq']} ({e['id']}) was altered")
                prev, expected_seq = e["hash"], e["seq"] + 1
            if chain["seq"] != expected_seq - 1:
                problems.append(f"chain {k}: the last {chain['seq'] - expected_seq + 1} event(s) are missing")
            elif chain["head"] != prev:
                problems.append(f"chain {k}: the newest event does not match the chain head")
        return problems

    return await graph.read(work)
