"""Stewards' decisions about connectors (switching one on or off): who, when, why — kept in the graph.

`(:ConnectorDecision {id, connector, action, enabled, at, actor, actorRole, purpose, reason, requestId})`.
Decisions are only ever added, never changed: the record of who switched a source off, and why, is what a
steward or an auditor reads afterwards. The live on/off state itself is shared through Redis
(`connectors.switches`); a decision is written here *before* the switch moves, so no change goes unrecorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.driver import Graph, Tx

__all__ = ["ConnectorDecision", "decisions_for", "record_decision"]

MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class ConnectorDecision:
    id: str
    connector: str
    action: str  # "enable" | "disable"
    at: datetime
    actor: str
    actor_role: str
    purpose: str | None
    reason: str | None
    request_id: str


def _decision(r: dict[str, Any]) -> ConnectorDecision:
    return ConnectorDecision(
        id=r["id"],
        connector=r["connector"],
        action=r["action"],
        at=datetime.fromisoformat(r["at"]),
        actor=r["actor"],
        actor_role=r["actorRole"],
        purpose=r["purpose"],
        reason=r["reason"],
        request_id=r["requestId"],
    )


async def record_decision(
    graph: Graph,
    connector: str,
    *,
    enabled: bool,
    actor: str,
    actor_role: str,
    purpose: str | None,
    reason: str | None,
    request_id: str,
) -> ConnectorDecision:
    props = {
        "id": str(uuid.uuid4()),
        "connector": connector,
        "action": "enable" if enabled else "disable",
        "enabled": enabled,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "actorRole": actor_role,
        "purpose": purpose,
        "reason": reason[:MAX_REASON] if reason else None,
        "requestId": request_id,
    }

    async def work(tx: Tx) -> None:
        await tx.fetch("CREATE (d:ConnectorDecision) SET d = $props", {"props": props})

    await graph.write(work)
    return _decision(props)


async def decisions_for(graph: Graph, connectors: Sequence[str], limit: int = 10) -> list[list[ConnectorDecision]]:
    """The latest ``limit`` decisions about each connector, newest first (in the order asked)."""

    async def work(tx: Tx) -> list[list[ConnectorDecision]]:
        rows = await tx.fetch(
            "UNWIND $names AS name "
            "OPTIONAL MATCH (d:ConnectorDecision {connector: name}) "
            "WITH name, d ORDER BY d.at DESC "
            "RETURN name, collect(d {.*}) AS decisions",
            {"names": list(connectors)},
        )
        found = {r["name"]: [_decision(d) for d in r["decisions"][:limit]] for r in rows}
        return [found.get(name, []) for name in connectors]

    return await graph.read(work)
