"""Trusted documents: in this mode only operations registered in a manifest run.

The manifest is Apollo's persisted-query manifest (`{"format": "apollo-persisted-query-manifest",
"operations": [{"id": <sha256 of body>, "name", "type", "body"}]}`), which client build tools emit.
A request names its operation by `documentId` ("sha256:<hex>") or Apollo's
`extensions.persistedQuery.sha256Hash`, or sends the full text, whose hash must be registered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import orjson

from hub.errors import Refusal


class DocumentError(Exception):
    """The manifest is unusable (named file and reason)."""


class TrustedDocuments:
    def __init__(self, documents: dict[str, str]) -> None:
        self.documents = documents

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DocumentError(f"{path}: cannot read the trusted-documents manifest ({exc})") from None
        operations = manifest.get("operations") if isinstance(manifest, dict) else None
        if manifest.get("format") != "apollo-persisted-query-manifest" or not isinstance(operations, list):
            raise DocumentError(f"{path}: not an apollo-persisted-query-manifest")
        documents: dict[str, str] = {}
        for i, op in enumerate(operations):
            body = op.get("body") if isinstance(op, dict) else None
            if not isinstance(body, str):
                raise DocumentError(f"{path}: operations.{i}: no body")
            digest = sha256(body)
            if op.get("id") not in (None, digest):
                raise DocumentError(f"{path}: operations.{i}: id is not the sha256 of its body")
            documents[digest] = body
        return cls(documents)

    def resolve(self, body: bytes) -> bytes:
        """Return the request body with the registered document's text, or refuse it."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # Strawberry answers malformed JSON with its own 400
        if not isinstance(data, dict):
            raise Refusal("batched requests are not accepted in trusted-documents mode", "UNTRUSTED_DOCUMENT", 400)
        digest = self._requested_id(data)
        query = data.get("query")
        if digest is None and isinstance(query, str):
            digest = sha256(query)
        if digest is None or digest not in self.documents:
            raise Refusal("only registered operations run on this hub", "UNTRUSTED_DOCUMENT", 400)
        if isinstance(query, str) and sha256(query) != digest:
            raise Refusal("the document does not match its id", "UNTRUSTED_DOCUMENT", 400)
        data["query"] = self.documents[digest]
        return orjson.dumps(data)

    @staticmethod
    def _requested_id(data: dict[str, Any]) -> str | None:
        document_id = data.get("documentId")
        if isinstance(document_id, str) and document_id.startswith("sha256:"):
            return document_id.removeprefix("sha256:")
        persisted = (
            (data.get("extensions") or {}).get("persistedQuery") if isinstance(data.get("extensions"), dict) else None
        )
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            return str(persisted["sha256Hash"])
        return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
