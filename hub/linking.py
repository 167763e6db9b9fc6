"""Bulk linking: a source's extract (JSON lines) linked to the core record, resumable and idempotent.

    hub identities link --connector NAME FILE.jsonl

Each line is one external record, as the real-time path takes it (`graph.linkage.resolver`):

    {"id": "<the source's id>", "givenName": ..., "familyName": ..., "dateOfBirth": "YYYY-MM-DD",
     "postcode": ..., "addressLine": ..., "verified": {"nino": ...}}

and meets the same fate as one arriving alone: linked automatically, queued for a steward, left
unmatched, or refused with its line number and why. Records are resolved a batch at a time, several
at once (the graph serves concurrent reads well; a round trip is the cost that matters).

Resumable: after every batch a checkpoint records the line and byte offset reached, the counts so far,
and a SHA-256 of the file up to that offset; a run started again on the same file continues after it
(and refuses to, naming the reason, if the part already read has changed). Idempotent: the graph
decides, not the checkpoint — an identity already linked is left as it is (counted as already linked),
a candidate already queued is not queued twice, and a pair a steward rejected is not proposed again —
so processing a file twice (`--restart`) makes no new link.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from graph.linkage.decision import Outcome
from graph.linkage.errors import InvalidRecord
from graph.linkage.resolver import ExternalRecord, Resolver
from hub.linkage import ExtractLine, LinkageSetupError, extract_lines

FORMAT = 1
MAX_REFUSED_KEPT = 100_000  # refusals kept in the checkpoint (the count is always exact)


@dataclass(slots=True)
class Counts:
    auto_linked: int = 0  # new links made by this file (the model, or a verified identifier)
    already_linked: int = 0  # identities linked before (by an earlier run, a steward, a connector)
    queued: int = 0  # sent to (or still in) the steward review queue
    unmatched: int = 0  # no candidate reached the review threshold
    refused: int = 0  # lines that are not a record the hub can match

    @property
    def rows(self) -> int:
        return self.auto_linked + self.already_linked + self.queued + self.unmatched + self.refused


@dataclass(slots=True)
class BulkReport:
    path: str
    source: str
    counts: Counts = field(default_factory=Counts)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, why), in line order
    line: int = 0  # last line processed
    offset: int = 0  # byte offset after it
    resumed_from: int = 0  # the line an earlier run had reached (0: from the start)
    complete: bool = False
    seconds: float = 0.0  # this run
    rows_this_run: int = 0
    finished_at: str | None = None

    @property
    def rate(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0


class CheckpointError(LinkageSetupError):
    """The checkpoint does not belong to this file as it is now."""


def default_checkpoint(data_dir: Path, source: str, path: Path) -> Path:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return data_dir / "linkage-bulk" / f"{source}-{digest}.json"


def _prefix_digest(f: BinaryIO, offset: int) -> tuple[str, dict[str, int]]:
    """SHA-256 of the file's first `offset` bytes, and the ids met there (with their lines)."""
    hasher = hashlib.sha256()
    seen: dict[str, int] = {}
    f.seek(0)
    remaining = offset
    chunks: list[bytes] = []
    while remaining > 0:
        chunk = f.readline(remaining)
        if not chunk:
            break
        remaining -= len(chunk)
        hasher.update(chunk)
        chunks.append(chunk)
    for _ in extract_lines(chunks, seen=seen):
        pass
    return hasher.hexdigest(), seen


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc}): remove it or run with --restart") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a bulk-linking checkpoint: remove it or run with --restart")
    return doc


def _save_checkpoint(path: Path, report: BulkReport, digest: str) -> None:
    doc = {
        "format": FORMAT,
        "file": report.path,
        "source": report.source,
        "line": report.line,
        "offset": report.offset,
        "sha256": digest,
        "complete": report.complete,
        "counts": asdict(report.counts),
        "refused": report.refused[:MAX_REFUSED_KEPT],
        "finishedAt": report.finished_at,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _batches(lines: Iterator[ExtractLine], size: int) -> Iterator[list[ExtractLine]]:
    batch: list[ExtractLine] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _external(source: str, line: ExtractLine) -> ExternalRecord:
    assert line.uid is not None and line.raw is not None
    verified = line.raw.get("verified") or {}
    fields = {k: v for k, v in line.raw.items() if k not in ("id", "verified")}
    return ExternalRecord(source, line.uid, fields, verified)


Progress = Callable[[BulkReport, int], None]
"""Called after every batch with the report so far and the file's size in bytes."""


async def link_file(
    resolver: Resolver,
    path: Path,
    source: str,
    *,
    checkpoint: Path,
    restart: bool = False,
    batch_size: int = 200,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> BulkReport:
    """Link every record of `path` to the core record as `source`; see the module docstring."""
    if batch_size < 1 or concurrency < 1:
        raise LinkageSetupError("batch size and concurrency must be at least 1")
    report = BulkReport(path=str(path.resolve()), source=source)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise LinkageSetupError(f"{path}: cannot read: {exc}") from exc
    with f:
        size = os.fstat(f.fileno()).st_size
        saved = None if restart else _load_checkpoint(checkpoint)
        seen: dict[str, int] = {}
        hasher = hashlib.sha256()
        if saved is not None:
            if saved.get("source") != source:
                raise CheckpointError(f"{checkpoint}: written for source {saved.get('source')!r}, not {source!r}")
            offset = int(saved["offset"])
            digest, seen = _prefix_digest(f, offset)
            if offset > size or digest != saved["sha256"]:
                raise CheckpointError(
                    f"{path} changed since line {saved['line']} was reached: run with --restart to process it "
                    "again from the start (links already made are kept, none is made twice)"
                )
            f.seek(0)
            hasher.update(f.read(offset))
            report.counts = Counts(**saved["counts"])
            report.refused = [(int(n), str(why)) for n, why in saved["refused"]]
            report.line = report.resumed_from = int(saved["line"])
            report.offset = offset
            report.complete = bool(saved.get("complete"))
            report.finished_at = saved.get("finishedAt")
            if report.complete:
                return report
        f.seek(report.offset)
        started = time.perf_counter()
        limit = asyncio.Semaphore(concurrency)

        async def resolve(line: ExtractLine) -> tuple[ExtractLine, Outcome | None, bool, str | None]:
            async with limit:
                try:
                    decision = await resolver.resolve(_external(source, line))
                except InvalidRecord as exc:
                    return line, None, False, str(exc)
                return line, decision.outcome, decision.existing, None

        raw_lines = iter(f.readline, b"")
        parsed = extract_lines(raw_lines, seen=seen, number=report.line, offset=report.offset)
        for batch in _batches(parsed, batch_size):
            # A task group: if the graph fails, the batch's other resolutions are cancelled with it and the
            # checkpoint stays at the previous batch.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(resolve(x)) for x in batch if x.refusal is None]
            outcomes = {r[0].number: r for r in (t.result() for t in tasks)}
            for line in batch:
                if line.refusal is not None:
                    report.refused.append((line.number, line.refusal))
                    report.counts.refused += 1
                    continue
                _, outcome, existing, why = outcomes[line.number]
                if why is not None:
                    report.refused.append((line.number, why))
                    report.counts.refused += 1
                elif existing:
                    report.counts.already_linked += 1
                elif outcome is Outcome.AUTO_LINK:
                    report.counts.auto_linked += 1
                elif outcome is Outcome.REVIEW:
                    report.counts.queued += 1
                else:
                    report.counts.unmatched += 1
            report.rows_this_run += len(batch)
            # lines after the last parsed one (blank lines at the end) are covered by the final save
            f_end = batch[-1].end
            hasher.update(_bytes_between(f, report.offset, f_end))
            report.line, report.offset = batch[-1].number, f_end
            report.seconds = time.perf_counter() - started
            _save_checkpoint(checkpoint, report, hasher.hexdigest())
            if progress is not None:
                progress(report, size)
        report.complete = True
        report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        report.seconds = time.perf_counter() - started
        _save_checkpoint(checkpoint, report, hasher.hexdigest())
        if progress is not None:
            progress(report, size)
    return report


def _bytes_between(f: BinaryIO, start: int, end: int) -> bytes:
    """Re-read [start, end) for the running digest, leaving the reading position where it was."""
    here = f.tell()
    f.seek(start)
    data = f.read(end - start)
    f.seek(here)
    return data


def summary(report: BulkReport) -> Sequence[str]:
    c = report.counts
    return (
        f"auto-linked {c.auto_linked:,}",
        f"already linked {c.already_linked:,}",
        f"queued for review {c.queued:,}",
        f"unmatched {c.unmatched:,}",
        f"refused {c.refused:,}",
    )
