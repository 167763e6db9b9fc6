"""The connectors package's exception family and the error codes clients see.

Two halves. `ConnectorConfigError` is raised at start-up (or when a steward edits YAML) and names the file
and key of every problem. `UpstreamError` and its subclasses are raised *inside* the package by connector
code and the HTTP helpers; the resilience layer (`connectors.source`) turns each into an `ErrorCode` on a
per-key result, so an upstream fault never raises into the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class ErrorCode(StrEnum):
    """The `extensions.code` a GraphQL client sees when a connector could not answer (DESIGN "Connectors")."""

    CONNECTOR_UNAVAILABLE = "CONNECTOR_UNAVAILABLE"
    CONNECTOR_TIMEOUT = "CONNECTOR_TIMEOUT"
    CONNECTOR_BAD_RESPONSE = "CONNECTOR_BAD_RESPONSE"
    CONNECTOR_AUTH_FAILED = "CONNECTOR_AUTH_FAILED"
    CONNECTOR_DISABLED = "CONNECTOR_DISABLED"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"  # reserved: the consent slice returns it


class ConnectorError(Exception):
    """Base of every error raised by `connectors`."""


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with one connector file: where (file, dotted key) and what."""

    file: Path | None
    key: str  # dotted path inside the document, "" for the document itself
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.file is not None else "<config>"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConnectorConfigError(ConnectorError, ValueError):
    """Connector configuration is unusable; every problem found is listed, each naming its file and key."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("ConnectorConfigError needs at least one problem")
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        head = "invalid connector configuration" if len(self.problems) > 1 else "invalid connector configuration:"
        if len(self.problems) == 1:
            super().__init__(f"{head} {self.problems[0]}")
        else:
            super().__init__(head + "".join(f"\n  - {p}" for p in self.problems))

    @classmethod
    def at(cls, key: str, message: str, file: Path | None = None) -> ConnectorConfigError:
        return cls([ConfigProblem(file, key, message)])

    def in_file(self, file: Path) -> ConnectorConfigError:
        """The same problems, attributed to ``file`` where they did not name one yet."""
        return ConnectorConfigError(
            [p if p.file is not None else ConfigProblem(file, p.key, p.message) for p in self.problems]
        )

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.problems]


class UnknownConnector(ConnectorError, KeyError):
    """No connector instance has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no connector named {self.name!r}"


class CacheUnavailable(ConnectorError):
    """The cache could not do something that must not silently fail (purging a person's cached data)."""


class InvalidKey(ConnectorError, ValueError):
    """A match key handed to `fetch` is not a usable key (a caller's bug, not an upstream fault)."""


# --------------------------------------------------------------------------------------------------------
# Upstream faults (raised inside the package, returned to callers as codes)
# --------------------------------------------------------------------------------------------------------


class UpstreamError(ConnectorError):
    """An upstream call failed. ``retryable`` says whether trying again may help (for idempotent calls)."""

    code: ErrorCode = ErrorCode.CONNECTOR_UNAVAILABLE
    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the upstream asked us to wait (Retry-After), if it said
        self.status = status


class UpstreamUnavailable(UpstreamError):
    """Refused, reset, 5xx, 429: the upstream cannot serve now."""

    code = ErrorCode.CONNECTOR_UNAVAILABLE
    retryable = True


class UpstreamTimeout(UpstreamError):
    """No complete answer within the time budget (slow or hung upstream)."""

    code = ErrorCode.CONNECTOR_TIMEOUT
    retryable = True


class BadResponse(UpstreamError):
    """The upstream answered, but not with what its contract promises (garbage, wrong schema, odd status)."""

    code = ErrorCode.CONNECTOR_BAD_RESPONSE
    retryable = False


class AuthFailed(UpstreamError):
    """The upstream refused our credentials. Not retried: hammering a token endpoint can lock an account."""

    code = ErrorCode.CONNECTOR_AUTH_FAILED
    retryable = False


class Rejected(UpstreamError):
    """Refused locally without calling the upstream: breaker open, bulkhead full."""

    code = ErrorCode.CONNECTOR_UNAVAILABLE
    retryable = False
