"""Connectors: external sources about people, behind one contract, one registry and one resilience layer.

The composition root creates one aiohttp session (`create_session`) and one Redis client, then
`ConnectorRegistry.from_directory(config/connectors, session=..., redis=...)`; callers ask a `Source` for keys
and get a `FetchResult` per key (value, provenance, or a typed `ErrorCode`). Nothing here imports `hub`,
`schema` or `graph`.
"""

from __future__ import annotations

from connectors.cache import RecordCache
from connectors.contract import (
    Connector,
    ConnectorConfig,
    ConnectorInfo,
    FetchError,
    FetchResult,
    LawfulBasis,
    MatchKey,
    Provenance,
)
from connectors.errors import ConnectorConfigError, ConnectorError, ErrorCode, UnknownConnector, UpstreamError
from connectors.http import create_session
from connectors.registry import ConnectorRegistry, discover_kinds, load_specs
from connectors.source import Source
from connectors.stats import StatsSnapshot

__all__ = [
    "Connector",
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorInfo",
    "ConnectorRegistry",
    "ErrorCode",
    "FetchError",
    "FetchResult",
    "LawfulBasis",
    "MatchKey",
    "Provenance",
    "RecordCache",
    "Source",
    "StatsSnapshot",
    "UnknownConnector",
    "UpstreamError",
    "create_session",
    "discover_kinds",
    "load_specs",
]
