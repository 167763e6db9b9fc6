"""Run-time on/off switches for connectors, shared by every replica through one Redis hash.

A connector's YAML says whether it starts enabled; a steward can switch it at run time (`hub`'s
`setConnectorEnabled`). The decision must hold on every replica at once, so it lives in Redis, not in
process memory: ``<prefix>`` is a hash of connector name → ``{"enabled", "changedAt", "changedBy", "reason"}``
(JSON). A switch set in Redis wins over the YAML until it is set again; without an entry the YAML holds.

Every fetch reads its connector's switch (one `HGET`; concurrent fetches share one read in flight), so a
connector disabled on one replica answers `CONNECTOR_DISABLED` on the next query anywhere. When Redis
cannot answer, a source keeps the last state it read (and counts the failure): the cache is down too, and
flapping every connector on a Redis hiccup would be worse than a moment's delay in a switch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from connectors.errors import ConnectorError

__all__ = ["DEFAULT_SWITCH_KEY", "Switch", "Switches", "SwitchesUnavailable"]

log = logging.getLogger(__name__)

DEFAULT_SWITCH_KEY = "citizen-hub:connector-switch"


class SwitchesUnavailable(ConnectorError):
    """Redis could not read or store a switch (a steward's change must not silently fail)."""


@dataclass(frozen=True, slots=True)
class Switch:
    """A steward's decision about one connector."""

    enabled: bool
    changed_at: datetime
    changed_by: str
    reason: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "enabled": self.enabled,
                "changedAt": self.changed_at.isoformat(),
                "changedBy": self.changed_by,
                "reason": self.reason,
            }
        )

    @classmethod
    def decode(cls, blob: bytes | str) -> Switch | None:
        try:
            raw: Any = orjson.loads(blob)
            return cls(
                enabled=bool(raw["enabled"]),
                changed_at=datetime.fromisoformat(raw["changedAt"]),
                changed_by=str(raw["changedBy"]),
                reason=raw.get("reason"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignoring an undecodable connector switch")
            return None


class Switches:
    """The shared hash of switches over the composition root's Redis client."""

    def __init__(self, redis: aioredis.Redis, *, key: str = DEFAULT_SWITCH_KEY, timeout: float = 0.5) -> None:
        self.redis = redis
        self.key = key
        self.timeout = timeout

    async def get(self, name: str) -> Switch | None:
        """The switch for ``name`` (None: none set, the YAML holds). Raises `SwitchesUnavailable`."""
        try:
            async with asyncio.timeout(self.timeout):
                blob = await self.redis.hget(self.key, name)
        except (RedisError, OSError, TimeoutError) as exc:
            raise SwitchesUnavailable(f"cannot read the switch of connector {name}") from exc
        return Switch.decode(blob) if blob is not None else None

    async def get_all(self) -> dict[str, Switch]:
        try:
            async with asyncio.timeout(self.timeout):
                raw: Mapping[Any, Any] = await self.redis.hgetall(self.key)
        except (RedisError, OSError, TimeoutError) as exc:
            raise SwitchesUnavailable("cannot read the connector switches") from exc
        out: dict[str, Switch] = {}
        for name, blob in raw.items():
            switch = Switch.decode(blob)
            if switch is not None:
                out[name.decode() if isinstance(name, bytes) else str(name)] = switch
        return out

    async def set(self, name: str, enabled: bool, *, by: str, reason: str | None = None) -> Switch:
        switch = Switch(enabled, datetime.now(UTC), by, reason)
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.hset(self.key, name, switch.encode())
        except (RedisError, OSError, TimeoutError) as exc:
            raise SwitchesUnavailable(f"cannot store the switch of connector {name}") from exc
        return switch

    async def restore(self, name: str, switch: Switch) -> bool:
        """Put back a switch Redis lost (from the graph's record of decisions) unless one is set; True if put."""
        try:
            async with asyncio.timeout(self.timeout):
                return bool(await self.redis.hsetnx(self.key, name, switch.encode()))
        except (RedisError, OSError, TimeoutError) as exc:
            raise SwitchesUnavailable(f"cannot restore the switch of connector {name}") from exc

    async def clear(self, name: str) -> None:
        """Forget the run-time switch: the YAML holds again."""
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.hdel(self.key, name)
        except (RedisError, OSError, TimeoutError) as exc:
            raise SwitchesUnavailable(f"cannot clear the switch of connector {name}") from exc
