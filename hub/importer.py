"""`hub import FILE.jsonl`: load an extract of the core record, row by row validated, resumable, idempotent.

One JSON object per line, a person keyed by NINO (the record's unique key):

    {"nino": "AB123456C", "givenName": "Ann", "familyName": "Smith", "dateOfBirth": "1980-02-01",
     "id": "<uuid, optional>", "status": "ACTIVE",
     "addresses": [{"line1": "1 High St", "town": "Leeds", "postcode": "LS1 1AA", "from": "2015-01-01", "to": null}],
     "claims": [{"id": "<optional>", "type": "UNIVERSAL_CREDIT", "status": "ACTIVE", "startDate": "2024-04-01",
                 "amountPence": 31550}],
     "parents": ["CD654321A"], "partner": "EF112233B"}

* Every row is validated with the rules the API applies (`graph.nino`, `graph.validation`); a bad row is
  never written and never dropped silently: it is reported with its line number (and why) on the console
  and in a report file, and the import goes on.
* People are written in batches, each in one transaction keyed on the NINO (`graph.bulk.import_batch`):
  people the graph does not hold are created at the server's raw write speed, people it holds are merged
  onto. Running the same file again changes nothing; a person already in the graph is left as it is (new
  claims and addresses are added to them). Ids are derived from the NINO unless the row gives one, so a
  re-run makes the same ids. On a first load the transaction does not even ask which NINOs the graph
  holds: the unique constraint on the NINO answers by failing it (nothing written), and from then on, while
  batches keep meeting stored people, each batch asks first.
* Reading and writing overlap: a batch's transaction starts once its first quarter is read and validated,
  and is given the rest as it is read; the next batch is read while this one commits. One transaction at
  a time, in file order.
* Household links (`parents`, `partner`) name people by NINO. A link between people of the same batch, or
  to someone stored before, is made in the batch's transaction (a partnership once, from either row).
  A link naming someone not written yet (later in the file, or nowhere) is kept in a spool file beside
  the checkpoint and made in a second pass once everyone is in; one to a NINO the graph does not hold
  even then is reported like a bad row.
* A checkpoint (file offset, phase, counts, spool and report lengths) is written after every committed
  batch: an interrupted import resumes where it stopped. The file must be unchanged (size and first 64
  KiB) to resume. A crash between a commit and its checkpoint only means one batch is written twice,
  which the merge-on-NINO write makes harmless.
* ArcadeDB raises ConstraintError where a concurrent merge on the same key would match on Neo4j (shared
  PLATFORM.md): a batch meeting one is retried, then written row by row so that only a row that really
  conflicts with a stored record (e.g. its id belongs to another NINO) is reported.

Memory is bounded by the batch size: the file is streamed, never held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from neo4j.exceptions import ConstraintError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from graph.bulk import ImportBatch, import_batch, import_links
from graph.driver import Graph
from graph.errors import InvalidValue
from graph.models import PersonStatus, full_name_key, name_key
from graph.nino import normalise_nino
from graph.validation import check_birth_date, clean_name, normalise_postcode

NAMESPACE = uuid.UUID("2b0f8d0e-6a43-4b59-9c1e-5d0f3c8a7e21")
_NAMESPACE_BYTES = NAMESPACE.bytes
DEFAULT_BATCH = 2000
CONFLICT_RETRIES = 2
HEAD_BYTES = 64 * 1024
MAX_ADDRESSES = 50
MAX_CLAIMS = 100
CLAIM_STATUSES = ("ACTIVE", "CLOSED", "PENDING")
CHECKPOINT_VERSION = 2  # 2: links are made with their batch; only forward references wait in the spool
YIELD_EVERY = 32  # rows validated between chances for the batch in flight to talk to the server
PARTS, PART_MIN = 4, 250  # a batch goes to the server in about PARTS parts of at least PART_MIN people


class ImportFailed(Exception):
    """The import cannot start or go on (unreadable file, checkpoint of another file); the message says why."""


# ----------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------


def _rule(check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except InvalidValue as exc:
        raise ValueError(exc.reason) from None


class AddressRow(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    town: str = Field(min_length=1, max_length=100)
    postcode: str
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str) -> str:
        return str(_rule(normalise_postcode, v))


class ClaimRow(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = Field(default=None, min_length=1, max_length=100)
    type: str = Field(pattern=r"^[A-Z][A-Z_]{1,59}$")
    status: Literal["ACTIVE", "CLOSED", "PENDING"]
    start_date: date = Field(alias="startDate")
    amount_pence: StrictInt = Field(alias="amountPence", ge=0, le=100_000_000)


class PersonRow(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    nino: str
    id: uuid.UUID | None = None
    given_name: str = Field(alias="givenName")
    family_name: str = Field(alias="familyName")
    date_of_birth: date | None = Field(default=None, alias="dateOfBirth")
    status: PersonStatus = PersonStatus.ACTIVE
    addresses: list[AddressRow] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    claims: list[ClaimRow] = Field(default_factory=list, max_length=MAX_CLAIMS)
    parents: list[str] = Field(default_factory=list, max_length=2)
    partner: str | None = None

    @field_validator("nino", "partner")
    @classmethod
    def _nino(cls, v: str | None) -> str | None:
        return None if v is None else str(_rule(normalise_nino, v))

    @field_validator("parents")
    @classmethod
    def _parents(cls, v: list[str]) -> list[str]:
        return [str(_rule(normalise_nino, n)) for n in v]

    @field_validator("given_name", "family_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return str(_rule(clean_name, v, "name"))

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, v: date | None) -> date | None:
        return None if v is None else _rule(check_birth_date, v)


def parse_row(raw: bytes) -> PersonRow:
    """One line -> a valid row, or ValueError with every problem named by field."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    try:
        row = PersonRow.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"]) or "row"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from None
    if row.nino in row.parents or row.nino == row.partner:
        raise ValueError("parents/partner: a person cannot be linked to themselves")
    return row


def name_id(name: str) -> str:
    """`str(uuid.uuid5(NAMESPACE, name))`, three times as fast (the import makes one per person, address
    and claim): the same SHA-1, version and variant bits, without building a UUID object."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def person_id_for(row: PersonRow) -> str:
    return str(row.id) if row.id else name_id(f"person:{row.nino}")


def add_row(batch: ImportBatch, row: PersonRow, line: int) -> None:
    given_key, family_key = name_key(row.given_name), name_key(row.family_name)
    props = {
        "givenName": row.given_name,
        "familyName": row.family_name,
        "givenNameKey": given_key,
        "familyNameKey": family_key,
        "fullNameKey": full_name_key(given_key, family_key),  # identity resolution's blocking key (issue 12)
        "dateOfBirth": row.date_of_birth,
        "status": row.status.value,
        "version": 1,
    }
    batch.people.append({"nino": row.nino, "id": person_id_for(row), "props": {**props, "nino": row.nino}})
    addresses: set[str] = set()
    for a in row.addresses:
        key = f"address:{row.nino}:{a.postcode}:{a.line1}:{a.from_}"
        address_id = name_id(key)
        if address_id in addresses:  # the same stay listed twice
            continue
        addresses.add(address_id)
        address = {"line1": a.line1, "line2": a.line2, "town": a.town, "postcode": a.postcode}
        batch.addresses.append({"nino": row.nino, "id": address_id, "props": address})
        batch.residences.append({"nino": row.nino, "address": address_id, "from": a.from_, "to": a.to})
    claims: set[str] = set()
    for c in row.claims:
        claim_id = c.id or name_id(f"claim:{row.nino}:{c.type}:{c.start_date}")
        if claim_id in claims:
            continue
        claims.add(claim_id)
        claim = {"type": c.type, "status": c.status, "startDate": c.start_date, "amountPence": c.amount_pence}
        batch.claims.append({"nino": row.nino, "id": claim_id, "props": claim})
    batch.links.extend(links_of(row, line))


def links_of(row: PersonRow, line: int) -> list[dict[str, Any]]:
    out = [{"kind": "PARENT_OF", "a": p, "b": row.nino, "line": line} for p in row.parents]
    if row.partner:
        out.append({"kind": "PARTNER_OF", "a": row.nino, "b": row.partner, "line": line})
    return out


# ----------------------------------------------------------------------------------------------------
# Checkpoint
# ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Checkpoint:
    file: str
    size: int
    head: str  # sha256 of the first HEAD_BYTES
    phase: Literal["people", "links", "done"] = "people"
    offset: int = 0  # bytes of the file fully handled in this phase
    line: int = 0  # lines fully handled in this phase
    report_offset: int = 0  # bytes of the report written with this checkpoint
    rows: int = 0
    created: int = 0
    present: int = 0
    bad: int = 0
    links: int = 0
    link_errors: int = 0
    seconds: float = 0.0  # time spent in earlier runs of this import
    spool_offset: int = 0  # bytes of the link spool written with this checkpoint
    version: int = 0  # CHECKPOINT_VERSION when written by this version

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)  # atomic: a crash leaves the old checkpoint or the new one


def fingerprint(path: Path) -> tuple[int, str]:
    with path.open("rb") as fh:
        head = hashlib.sha256(fh.read(HEAD_BYTES)).hexdigest()
    return path.stat().st_size, head


def load_checkpoint(path: Path, source: Path) -> Checkpoint | None:
    if not path.exists():
        return None
    try:
        data = orjson.loads(path.read_bytes())
        checkpoint = Checkpoint(**data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ImportFailed(f"{path}: not a checkpoint this version wrote ({exc}); pass --restart") from None
    if checkpoint.version != CHECKPOINT_VERSION:
        raise ImportFailed(
            f"{path}: written by another version of hub import; pass --restart to import the file from the "
            "start (safe: the import is idempotent)"
        )
    size, head = fingerprint(source)
    if (checkpoint.file, checkpoint.size, checkpoint.head) != (str(source.resolve()), size, head):
        raise ImportFailed(
            f"{path}: the checkpoint belongs to another file or {source} changed since; "
            "pass --restart to import it from the start (safe: the import is idempotent)"
        )
    return checkpoint


def default_checkpoint(data_dir: Path, source: Path) -> Path:
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    return data_dir / "imports" / f"{source.name}.{digest}.checkpoint.json"


# ----------------------------------------------------------------------------------------------------
# The import
# ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BadRow:
    line: int
    reason: str


@dataclass(slots=True)
class Outcome:
    checkpoint: Checkpoint
    resumed_at_line: int | None  # where an earlier interrupted run was picked up (None: a fresh start)
    seconds: float  # time spent in this run
    bad_rows: list[BadRow] = field(default_factory=list)  # this run's, first MAX_KEPT only
    report: Path | None = None
    already_done: bool = False  # the checkpoint says this file was imported to the end before


MAX_KEPT = 1000


def _lines(path: Path, offset: int, line: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset after the line, content) from `offset` on; blank lines are skipped."""
    with path.open("rb") as fh:
        fh.seek(offset)
        for raw in fh:
            line += 1
            offset += len(raw)
            if raw.strip():
                yield line, offset, raw


class _Pending:
    """A batch being read: its valid rows (each NINO once), cut into parts that its transaction can write
    while the rest is read; its refused lines; and, once written, the task that wrote it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.rows: list[tuple[int, PersonRow]] = []
        self.seen: dict[str, int] = {}
        self.bad: list[tuple[int, str]] = []
        self.parts: list[ImportBatch] = []
        self.part = ImportBatch(now=self.now)  # the part being filled
        self.closed = False
        self.end = (0, 0)  # (offset, line) after the last line read into this batch
        self.task: asyncio.Task[list[dict[str, Any]]] | None = None
        self._more = asyncio.Event()

    def add(self, line: int, row: PersonRow) -> None:
        if row.nino in self.seen:  # the same person twice in one batch: the first one stands
            self.bad.append((line, f"nino: repeats line {self.seen[row.nino]}"))
            return
        self.seen[row.nino] = line
        self.rows.append((line, row))
        add_row(self.part, row, line)

    def cut(self) -> None:
        """Hand the rows read since the last cut to the transaction."""
        if self.part.people:
            self.parts.append(self.part)
            self.part = ImportBatch(now=self.now)
            self._more.set()

    def close(self) -> None:
        self.cut()
        self.closed = True
        self._more.set()

    async def stream(self) -> AsyncIterator[ImportBatch]:
        """The parts from the first, then each as it is cut, until the batch is closed (`graph.bulk.Parts`)."""
        i = 0
        while True:
            if i < len(self.parts):
                yield self.parts[i]
                i += 1
            elif self.closed:
                return
            else:
                self._more.clear()
                await self._more.wait()

    async def whole(self) -> None:
        while not self.closed:
            self._more.clear()
            await self._more.wait()


class Importer:
    def __init__(
        self,
        graph: Graph,
        source: Path,
        checkpoint_path: Path,
        report_path: Path,
        *,
        batch_size: int = DEFAULT_BATCH,
        restart: bool = False,
        on_batch: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.graph = graph
        self.source = source
        self.checkpoint_path = checkpoint_path
        self.report_path = report_path
        # Links naming someone not yet written (later in the file, or no one), kept for the second pass.
        self.spool_path = checkpoint_path.with_suffix(".links.jsonl")
        self.batch_size = batch_size
        self.restart = restart
        self.on_batch = on_batch
        self.kept: list[BadRow] = []
        self._base = 0.0
        self._spool: Any = None  # the spool, open for appending during the first pass
        self._unchecked = True  # write the next batch without asking first (see _write)

    async def run(self) -> Outcome:
        if not self.source.is_file():
            raise ImportFailed(f"{self.source}: no such file")
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        cp = None if self.restart else load_checkpoint(self.checkpoint_path, self.source)
        resumed = None
        finished_before = cp is not None and cp.phase == "done"
        if cp is None:
            size, head = fingerprint(self.source)
            cp = Checkpoint(file=str(self.source.resolve()), size=size, head=head, version=CHECKPOINT_VERSION)
            self.report_path.write_bytes(b"")
            self.spool_path.write_bytes(b"")
        else:
            resumed = cp.line if cp.phase != "done" else None
            with self.report_path.open("ab") as report:  # drop what a crash wrote after the checkpoint
                report.truncate(cp.report_offset)
            if cp.phase != "done":
                self._check_spool(cp)
        started = time.perf_counter()
        self._base = cp.seconds
        with self.report_path.open("ab") as report:
            if cp.phase == "people":
                with self.spool_path.open("ab") as self._spool:
                    self._spool.truncate(cp.spool_offset)  # drop what a crash wrote after the checkpoint
                    await self._people(cp, report, started)
                    cp.phase, cp.offset, cp.line = "links", 0, 0
                    self._save(cp, report, started)
                self._spool = None
            if cp.phase == "links":
                await self._links(cp, report, started)
                cp.phase = "done"
                self._save(cp, report, started)
                self.spool_path.unlink(missing_ok=True)
        return Outcome(cp, resumed, time.perf_counter() - started, self.kept, self.report_path, finished_before)

    def _check_spool(self, cp: Checkpoint) -> None:
        have = self.spool_path.stat().st_size if self.spool_path.exists() else -1
        if have < cp.spool_offset:
            raise ImportFailed(
                f"{self.spool_path}: the links kept for the second pass are missing or cut short; "
                "pass --restart to import the file from the start (safe: the import is idempotent)"
            )

    def _save(self, cp: Checkpoint, report: Any, started: float) -> None:
        report.flush()
        os.fsync(report.fileno())
        cp.report_offset = report.tell()
        if self._spool is not None:
            self._spool.flush()
            os.fsync(self._spool.fileno())
            cp.spool_offset = self._spool.tell()
        cp.seconds = self._base + time.perf_counter() - started
        cp.save(self.checkpoint_path)
        if self.on_batch is not None:
            self.on_batch(cp)

    def _bad(self, report: Any, line: int, reason: str, cp: Checkpoint, link: bool = False) -> None:
        if link:
            cp.link_errors += 1
        else:
            cp.bad += 1
        if len(self.kept) < MAX_KEPT:
            self.kept.append(BadRow(line, reason))
        report.write(orjson.dumps({"line": line, "error": reason}) + b"\n")

    async def _people(self, cp: Checkpoint, report: Any, started: float) -> None:
        """Read and validate while the server writes: Python and the server work at once.

        A batch's transaction starts as soon as its first part (a quarter of the batch) is read, and is
        given each further part as it is read, so even a file of one batch is read while written. One
        transaction at a time: the next batch's parts wait until the one before committed (it then sees
        that one's people, and checkpoints follow the file's order). Reading gives the write a turn
        every YIELD_EVERY rows. A batch's bad rows and deferred links reach the report and the spool
        only once its write is done, just before its checkpoint, so neither ever holds lines of a batch
        the checkpoint does not cover.
        """
        part_size = min(self.batch_size, max(PART_MIN, self.batch_size // PARTS))
        current = _Pending()
        current.end = (cp.offset, cp.line)
        flight: _Pending | None = None  # the batch whose transaction is open (still being fed, or finishing)

        async def finish(done: _Pending) -> None:
            assert done.task is not None
            deferred = await done.task
            self._close(cp, report, done, deferred)
            cp.offset, cp.line = done.end
            self._save(cp, report, started)

        def start(batch: _Pending) -> _Pending:
            batch.task = asyncio.create_task(self._write(batch, cp, report))
            return batch

        try:
            for n, (line, offset, raw) in enumerate(_lines(self.source, cp.offset, cp.line), 1):
                try:
                    current.add(line, parse_row(raw))
                except ValueError as exc:
                    current.bad.append((line, str(exc)))
                current.end = (offset, line)
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                if len(current.part.people) >= part_size:
                    current.cut()
                    if flight is not None and flight is not current and flight.task and flight.task.done():
                        await finish(flight)
                        flight = None
                    if flight is None:
                        flight = start(current)
                if len(current.rows) >= self.batch_size:
                    current.close()
                    if flight is not current:
                        if flight is not None:
                            await finish(flight)
                        flight = start(current)
                    current = _Pending()
                    current.end = flight.end
            current.close()
            if flight is not None and flight is not current:
                await finish(flight)
                flight = None
            if current.rows:
                await finish(flight or start(current))
            else:  # nothing left to write: only bad rows, or nothing at all
                self._close(cp, report, current, [])
                cp.offset, cp.line = current.end
            flight = None
        finally:
            if flight is not None and flight.task is not None and not flight.task.done():
                flight.task.cancel()
                with contextlib.suppress(BaseException):
                    await flight.task

    def _close(self, cp: Checkpoint, report: Any, done: _Pending, deferred: list[dict[str, Any]]) -> None:
        for line, reason in done.bad:
            self._bad(report, line, reason, cp)
        for link in deferred:
            self._spool.write(orjson.dumps(link) + b"\n")

    async def _write(self, pending: _Pending, cp: Checkpoint, report: Any) -> list[dict[str, Any]]:
        """Write a batch (in parts, as they are read); returns its links that wait for the second pass.

        While batches hold only new people (a first load), the batch is written without asking which of
        its NINOs the graph holds: the unique constraint answers that, by failing the transaction. After
        such a failure, and while batches keep meeting stored people, every batch asks first.
        """
        result = None
        if self._unchecked:
            try:
                result = await import_batch(self.graph, pending.stream, check=False)
            except ConstraintError:
                self._unchecked = False  # someone in it is stored (or conflicts): ask, below
        for _ in range(0 if result is not None else CONFLICT_RETRIES):
            try:
                result = await import_batch(self.graph, pending.stream)
                break
            except ConstraintError:
                continue  # a concurrent writer, or a row that conflicts: see below
        if result is not None:
            self._unchecked = result.present == 0
            cp.rows += len(pending.rows)
            cp.created += result.created
            cp.present += result.present
            cp.links += result.links
            return result.deferred
        # Row by row, so that only the rows that really conflict are refused.
        await pending.whole()
        deferred: list[dict[str, Any]] = []
        for line, row in pending.rows:
            single = ImportBatch(now=pending.now)
            add_row(single, row, line)
            try:
                one = await import_batch(self.graph, single)
            except ConstraintError:
                self._bad(report, line, "conflicts with a stored record (its id belongs to another person)", cp)
                continue
            cp.rows += 1
            cp.created += one.created
            cp.present += one.present
            cp.links += one.links
            deferred.extend(one.deferred)
        return deferred

    async def _links(self, cp: Checkpoint, report: Any, started: float) -> None:
        """The second pass: links that named someone not yet written when their batch was, in file order."""
        pending: list[dict[str, Any]] = []
        end = (cp.offset, cp.line)
        for _, offset, raw in _lines(self.spool_path, cp.offset, 0):
            link = orjson.loads(raw)
            pending.append(link)
            end = (offset, link["line"])
            if len(pending) >= self.batch_size:
                await self._link(pending, cp, report)
                cp.offset, cp.line = end
                self._save(cp, report, started)
                pending = []
        if pending:
            await self._link(pending, cp, report)
        cp.offset, cp.line = end

    async def _link(self, links: list[dict[str, Any]], cp: Checkpoint, report: Any) -> None:
        made = await import_links(self.graph, links)
        for link in links:
            if (link["line"], link["a"], link["b"]) in made:
                cp.links += 1
            else:
                who = "parent" if link["kind"] == "PARENT_OF" else "partner"
                other = link["a"] if link["kind"] == "PARENT_OF" else link["b"]
                self._bad(report, link["line"], f"{who} {other} is not in the graph (nor in this file)", cp, link=True)


async def import_with_progress(
    graph: Graph,
    source: Path,
    checkpoint_path: Path,
    report_path: Path,
    console: Console,
    *,
    batch_size: int = DEFAULT_BATCH,
    restart: bool = False,
) -> Outcome:
    """`Importer.run` behind a progress bar: bytes of each pass, people/s, resident memory."""
    from hub.seed import rss_text

    size = max(source.stat().st_size, 1)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TextColumn("{task.fields[rss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("people", total=size, detail="", rss="")
        first: dict[str, int] = {}

        def advance(cp: Checkpoint) -> None:
            first.setdefault(cp.phase, cp.rows if cp.phase == "people" else cp.links)
            done = (cp.rows if cp.phase == "people" else cp.links) - first[cp.phase]
            rate = done / max(time.perf_counter() - started, 1e-9)
            unit = "people/s" if cp.phase == "people" else "links/s"
            detail = f"{rate:,.0f} {unit}, {cp.bad + cp.link_errors:,} bad"
            label = {"people": "people", "links": "links", "done": "done"}[cp.phase]
            bar.update(task, description=label, completed=cp.offset, detail=detail, rss=rss_text())

        importer = Importer(
            graph, source, checkpoint_path, report_path, batch_size=batch_size, restart=restart, on_batch=advance
        )
        return await importer.run()
