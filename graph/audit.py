"""Audit trail of personal-data reads: durable, tamper-evident, queryable per person.

One `AccessEvent` per request that read personal data, linked to each person read by an
`ACCESSED {fields}` relationship. Events form hash chains: each event stores the hash of the
previous event in its chain, and its own hash over its content, so an edited event no longer
matches its hash and a deleted one leaves a gap in the sequence. Chains are partitioned (by request
id) so concurrent requests do not all queue on one chain head; the head row is locked write-first
(the same pattern as optimistic concurrency in PLATFORM.md), so a chain never forks.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from graph.driver import Graph, Tx

PARTITIONS = 8
GENESIS = "0" * 64


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
    keys = ("id", "at", "actor", "actorRole", "actorDepartment", "purpose", "requestId", "reads", "partition", "seq")
    return orjson.dumps({k: props.get(k) for k in keys}, option=orjson.OPT_SORT_KEYS)


def event_hash(prev: str, props: Mapping[str, object]) -> str:
    return hashlib.sha256(prev.encode() + _content(props)).hexdigest()


async def ensure_chains(graph: Graph) -> None:
    async def work(tx: Tx) -> None:
        await tx.fetch(
            "UNWIND range(0, $n - 1) AS k MERGE (c:AuditChain {partition: k}) "
            "ON CREATE SET c.seq = 0, c.head = $genesis",
            {"n": PARTITIONS, "genesis": GENESIS},
        )

    await graph.write(work)


async def record_access(
    graph: Graph, actor: Actor, request_id: str, reads: Mapping[str, Sequence[str]], at: datetime | None = None
) -> str:
    """Durably record that `actor` read `reads` ({person id: fields}); returns the event id."""
    at = at or datetime.now(UTC)
    partition = zlib.crc32(request_id.encode()) % PARTITIONS
    reads_list = [[pid, sorted(set(fields))] for pid, fields in sorted(reads.items())]
    base = {
        "id": str(uuid.uuid4()),
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor.subject,
        "actorRole": actor.role,
        "actorDepartment": actor.department,
        "purpose": actor.purpose,
        "requestId": request_id,
        "reads": orjson.dumps(reads_list).decode(),
        "partition": partition,
    }

    async def work(tx: Tx) -> str:
        # Write first: bumping seq takes the row lock, so concurrent writers to this chain queue here.
        head = await tx.fetch_one(
            "MATCH (c:AuditChain {partition: $k}) SET c.seq = c.seq + 1 RETURN c.seq AS seq, c.head AS head",
            {"k": partition},
        )
        if head is None:
            raise RuntimeError("audit chains are missing: run migrations")
        props = {**base, "seq": head["seq"], "prevHash": head["head"]}
        props["hash"] = event_hash(head["head"], props)
        await tx.fetch(
            "MATCH (c:AuditChain {partition: $k}) SET c.head = $props.hash "
            "CREATE (e:AccessEvent) SET e = $props "
            "WITH e UNWIND $reads AS r MATCH (p:Person {id: r.person}) "
            "CREATE (e)-[:ACCESSED {fields: r.fields}]->(p)",
            {"k": partition, "props": props, "reads": [{"person": p, "fields": f} for p, f in reads_list]},
        )
        return str(props["id"])

    return await graph.write(work)


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
        chains = await tx.fetch("MATCH (c:AuditChain) RETURN c.partition AS k, c.seq AS seq, c.head AS head")
        for chain in sorted(chains, key=lambda c: c["k"]):
            k = chain["k"]
            rows = await tx.fetch("MATCH (e:AccessEvent {partition: $k}) RETURN e {.*} AS e ORDER BY e.seq", {"k": k})
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
