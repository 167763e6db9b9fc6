"""Training the identity-resolution model with Splink (DuckDB backend), and where models are kept.

    core   = people in the graph (graph.linkage.records), or any MatchRecords
    sample = records from the source to be linked (a connector's extract)
    train(core, sample) -> a model document; save_model(...) -> models/linkage-<version>.json

Splink links the two tables (`link_only`) with the comparisons of `graph.linkage.features`:
u probabilities by random sampling of pairs, m probabilities by expectation maximisation in two
sessions (blocked on date of birth, then on full name, so each comparison is estimated in one
where it is not the blocking key), and the prior from deterministic rules with an assumed recall.
One u is computed instead of sampled: that of swapped names (see `swapped_names_u`).
The labels of a labelled set never reach training: EM is unsupervised, as in production.

The saved document is Splink's settings dictionary, with every level's m and u written out (Splink
omits values it filled in by default), plus the term-frequency tables Splink computed, so the hub's
own scorer (`graph.linkage.model`) and a Splink linker built from the same file give the same scores.
At a department's scale the same code runs on Splink's Spark backend (`SparkAPI`); only the
database API object changes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from graph.driver import Graph
from graph.linkage.blocking import BLOCKING_RULES
from graph.linkage.decision import Thresholds
from graph.linkage.errors import InvalidRecord
from graph.linkage.features import COMPARISONS, GIVEN_NAME, SWAPPED_SQL, TF_COLUMNS, MatchRecord, parse_external
from graph.linkage.model import FORMAT, LinkageModel, content_version
from graph.linkage.records import core_records

log = logging.getLogger(__name__)

CONFIG_FILE = Path("config/linkage.yaml")
CURRENT = "current"  # the file in a models directory that names the model in use


class LinkageSetupError(Exception):
    """Splink is missing, the configuration is wrong, or no model has been trained yet."""


def require_splink() -> Any:
    try:
        import splink
    except ImportError as exc:  # pragma: no cover - the dev install has it
        raise LinkageSetupError(
            "training needs Splink: pip install 'citizen-hub[linkage]' (scoring at run time does not)"
        ) from exc
    return splink


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    seed: int = 42
    u_max_pairs: float = 2e6
    em_blocking: tuple[str, ...] = (
        "l.date_of_birth = r.date_of_birth",
        "l.given_name = r.given_name AND l.family_name = r.family_name",
    )
    prior_rules: tuple[str, ...] = (
        "l.given_name = r.given_name AND l.family_name = r.family_name AND l.date_of_birth = r.date_of_birth",
    )
    prior_recall: float = 0.7  # share of true matches the prior rules are assumed to find


@dataclass(frozen=True, slots=True)
class LinkageConfig:
    thresholds: Thresholds
    models_dir: Path
    training: TrainingOptions


def load_config(path: Path = CONFIG_FILE, *, base: Path | None = None) -> LinkageConfig:
    """Read config/linkage.yaml; a wrong key or value stops with a message naming it."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LinkageSetupError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise LinkageSetupError(f"{path}: expected a mapping")
    unknown = set(doc) - {"thresholds", "models_dir", "training"}
    if unknown:
        raise LinkageSetupError(f"{path}: unknown keys {sorted(unknown)}")
    t = doc.get("thresholds") or {}
    tr = doc.get("training") or {}
    if not isinstance(t, dict) or not isinstance(tr, dict):
        raise LinkageSetupError(f"{path}: thresholds and training must be mappings")
    retired = sorted(set(t) & {"auto_link", "review"})
    if retired:
        raise LinkageSetupError(
            f"{path}: thresholds.{retired[0]} was a probability, which shifts with the register's size; "
            "give auto_link_bits and review_bits instead (evidence in bits: the match weight less the prior's)"
        )
    try:
        defaults_t = Thresholds()
        thresholds = Thresholds(
            auto_link_bits=float(t.get("auto_link_bits", defaults_t.auto_link_bits)),
            review_bits=float(t.get("review_bits", defaults_t.review_bits)),
            margin=float(t.get("margin", defaults_t.margin)),
        )
        defaults = TrainingOptions()
        training = TrainingOptions(
            seed=int(tr.get("seed", defaults.seed)),
            u_max_pairs=float(tr.get("u_max_pairs", defaults.u_max_pairs)),
            prior_recall=float(tr.get("prior_recall", defaults.prior_recall)),
        )
    except (TypeError, ValueError) as exc:
        raise LinkageSetupError(f"{path}: {exc}") from exc
    if set(t) - {"auto_link_bits", "review_bits", "margin"} or set(tr) - {"seed", "u_max_pairs", "prior_recall"}:
        raise LinkageSetupError(f"{path}: unknown keys under thresholds or training")
    models_dir = Path(doc.get("models_dir") or ".data/linkage-models")
    if not models_dir.is_absolute() and base is not None:
        models_dir = base / models_dir
    return LinkageConfig(thresholds, models_dir, training)


def swapped_names_u(records: Iterable[MatchRecord]) -> float:
    """u of the "names swapped" level, from name frequencies rather than random pairs.

    Random sampling never sees two unrelated people whose given and family names are each other's
    (Splink would then fall back to a made-up default), yet the level's weight depends on exactly
    that rarity. Under independence it is P(given = other's family) * P(family = other's given):
    the square of the overlap between the two name distributions. It is never taken below the
    chance of agreeing on both names the normal way round, so a swap is never stronger evidence
    than an exact match.
    """
    given: Counter[str] = Counter()
    family: Counter[str] = Counter()
    for r in records:
        if r.given_name is not None and r.family_name is not None:
            given[r.given_name] += 1
            family[r.family_name] += 1
    n = sum(given.values())
    if n == 0:
        return 1e-6
    cross = sum(count * family[name] for name, count in given.items()) / (n * n)
    same = (sum(c * c for c in given.values()) / (n * n)) * (sum(c * c for c in family.values()) / (n * n))
    return max(cross * cross, same)


def splink_settings(swapped_u: float | None = None) -> dict[str, Any]:
    """Splink's settings for our comparisons (before training)."""
    comparisons = [c.splink_dict() for c in COMPARISONS]
    if swapped_u is not None:
        for level in comparisons[COMPARISONS.index(GIVEN_NAME)]["comparison_levels"]:
            if level["sql_condition"] == SWAPPED_SQL:
                level.update(u_probability=swapped_u, fix_u_probability=True)
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": list(BLOCKING_RULES),
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "probability_two_random_records_match": 1e-4,
    }


def arrow_table(records: Sequence[tuple[str, MatchRecord]]) -> Any:
    """Records as a pyarrow table with explicit types (an all-null column must still be text)."""
    import pyarrow as pa

    schema = pa.schema(
        [
            ("unique_id", pa.string()),
            ("given_name", pa.string()),
            ("family_name", pa.string()),
            ("given_name_groups", pa.list_(pa.string())),
            ("date_of_birth", pa.string()),
            ("postcode", pa.string()),
            ("address_line", pa.string()),
        ]
    )
    rows = [r.as_row(uid) for uid, r in records]
    return pa.Table.from_pylist(rows, schema=schema)


@dataclass(frozen=True, slots=True)
class SplinkSession:
    """A Splink linker with its DuckDB API and the two registered tables."""

    linker: Any
    db: Any
    core: Any
    external: Any


def splink_session(
    settings: dict[str, Any],
    core: Sequence[tuple[str, MatchRecord]],
    external: Sequence[tuple[str, MatchRecord]],
    tf_tables: dict[str, dict[str, float]] | None = None,
) -> SplinkSession:
    """A Splink DuckDB linker over the two tables; with `tf_tables`, Splink uses those frequencies."""
    splink = require_splink()
    from splink import DuckDBAPI

    db = DuckDBAPI()
    left = db.register(arrow_table(core), dataset_display_name="core")
    right = db.register(arrow_table(external), dataset_display_name="external")
    linker = splink.Linker([left, right], settings, log_level=None)
    if tf_tables:
        import pyarrow as pa

        for column, table in tf_tables.items():
            tf = pa.table({column: list(table), f"tf_{column}": list(table.values())})
            linker.table_management.register_term_frequency_lookup(db.register(tf), column)
    return SplinkSession(linker, db, left, right)


def _completed_settings(linker: Any) -> dict[str, Any]:
    """Splink's settings with every non-null level's effective m and u written out.

    `save_model_to_json` leaves out probabilities Splink did not estimate (a level never observed
    in training falls back to a default at prediction time); writing the values Splink would use
    makes the file the whole truth about the model.
    """
    settings: dict[str, Any] = linker.misc.save_model_to_json()
    settings.pop("linker_uid", None)  # random per linker: it would change the version of an identical model
    # Splink 5 has no public accessor for the effective per-level values: read them from its settings object.
    live = linker._settings_obj.comparisons
    for saved, comparison in zip(settings["comparisons"], live, strict=True):
        for saved_level, level in zip(saved["comparison_levels"], comparison.comparison_levels, strict=True):
            if level.is_null_level:
                continue
            saved_level["m_probability"] = level.m_probability
            saved_level["u_probability"] = level.u_probability
    return settings


def train(
    core: Sequence[tuple[str, MatchRecord]],
    sample: Sequence[tuple[str, MatchRecord]],
    options: TrainingOptions | None = None,
) -> dict[str, Any]:
    """Fit the model on the core record and a sample of the source to link; return the model document."""
    options = options or TrainingOptions()
    if len(core) < 100 or len(sample) < 100:
        raise LinkageSetupError("training needs at least 100 core records and 100 records of the source")
    started = datetime.now(UTC)
    swapped_u = swapped_names_u(r for _, r in [*core, *sample])
    linker = splink_session(splink_settings(swapped_u), core, sample).linker
    training = linker.training
    training.estimate_probability_two_random_records_match(list(options.prior_rules), recall=options.prior_recall)
    training.estimate_u_using_random_sampling(max_pairs=options.u_max_pairs, seed=options.seed)
    for rule in options.em_blocking:
        training.estimate_parameters_using_expectation_maximisation(rule)
    settings = _completed_settings(linker)
    tf_tables: dict[str, dict[str, float]] = {}
    for column in TF_COLUMNS:
        rows = linker.table_management.compute_tf_table(column).as_record_list()
        tf_tables[column] = {r[column]: r[f"tf_{column}"] for r in sorted(rows, key=lambda r: r[column])}
    splink = require_splink()
    return {
        "format": FORMAT,
        "version": content_version(settings, tf_tables),
        "createdAt": started.isoformat(),
        "splinkVersion": splink.__version__,
        "training": {
            "coreRecords": len(core),
            "sampleRecords": len(sample),
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 2),
            "options": {
                "seed": options.seed,
                "uMaxPairs": options.u_max_pairs,
                "emBlocking": list(options.em_blocking),
                "priorRules": list(options.prior_rules),
                "priorRecall": options.prior_recall,
            },
        },
        "settings": settings,
        "tf_tables": tf_tables,
    }


@dataclass(frozen=True, slots=True)
class Sample:
    """Records read from a source's JSONL extract, and the lines refused (line number, reason)."""

    records: list[tuple[str, MatchRecord]]
    refused: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class ExtractLine:
    """One non-blank line of an extract: its object and id, or why it was refused."""

    number: int  # 1-based line number in the file
    end: int  # byte offset just after the line (where reading resumes)
    uid: str | None = None
    raw: dict[str, Any] | None = None
    refusal: str | None = None


def extract_lines(
    lines: Iterable[bytes], *, seen: dict[str, int] | None = None, number: int = 0, offset: int = 0
) -> Iterator[ExtractLine]:
    """The lines of a JSONL extract (binary, so byte offsets are exact), each parsed or refused.

    One JSON object per line with an `id` (a string or an integer); an id seen before (in `seen`, which
    this fills) is refused, naming the line where it first appeared. `number` and `offset` say where
    `lines` starts in the file when reading resumes part-way. Blank lines are skipped.
    """
    seen = {} if seen is None else seen
    for line in lines:
        number += 1
        offset += len(line)
        if not line.strip():
            continue
        try:
            raw = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield ExtractLine(number, offset, refusal="not UTF-8 text")
            continue
        except ValueError as exc:
            yield ExtractLine(number, offset, refusal=f"not JSON: {getattr(exc, 'msg', exc)}")
            continue
        if not isinstance(raw, dict):
            yield ExtractLine(number, offset, refusal="not a JSON object")
            continue
        uid = raw.get("id")
        if not isinstance(uid, str | int) or isinstance(uid, bool) or str(uid).strip() == "":
            yield ExtractLine(number, offset, refusal="id: is required (a string or an integer)")
            continue
        uid = str(uid)
        if uid in seen:
            yield ExtractLine(number, offset, uid, refusal=f"id: {uid} appears twice (first on line {seen[uid]})")
            continue
        seen[uid] = number
        yield ExtractLine(number, offset, uid, raw)


def read_sample(path: Path, *, limit: int = 1_000_000) -> Sample:
    """One JSON object per line: `{"id": ..., "givenName": ..., "familyName": ..., "dateOfBirth": ...,
    "postcode": ..., "addressLine": ...}`. A bad line is refused with its number and why; the rest are used."""
    records: list[tuple[str, MatchRecord]] = []
    refused: list[tuple[int, str]] = []
    try:
        with path.open("rb") as lines:
            for line in extract_lines(lines):
                if len(records) >= limit:
                    break
                if line.refusal is not None or line.uid is None or line.raw is None:
                    refused.append((line.number, line.refusal or "refused"))
                    continue
                try:
                    records.append((line.uid, parse_external(line.raw)))
                except InvalidRecord as exc:
                    refused.append((line.number, str(exc)))
    except OSError as exc:
        raise LinkageSetupError(f"{path}: cannot read: {exc}") from exc
    return Sample(records, refused)


async def train_from_graph(
    graph: Graph, sample_path: Path, config: LinkageConfig, *, make_current: bool = True
) -> tuple[Path, dict[str, Any], Sample]:
    """`hub identities train`: the core record from the graph and a source's extract -> a saved model."""
    sample = read_sample(sample_path)
    core = [(c.person_id, c.record) for c in await core_records(graph)]
    document = train(core, sample.records, config.training)
    path = save_model(document, config.models_dir, make_current=make_current)
    return path, document, sample


def save_model(document: dict[str, Any], models_dir: Path, *, make_current: bool = True) -> Path:
    """Write `linkage-<version>.json` (atomically) and, by default, make it the model in use."""
    LinkageModel(document)  # refuse to save what could not be loaded
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"linkage-{document['version']}.json"
    _atomic_write(path, json.dumps(document, indent=1, sort_keys=True))
    if make_current:
        _atomic_write(models_dir / CURRENT, document["version"] + "\n")
    return path


def load_current_model(models_dir: Path) -> LinkageModel:
    pointer = models_dir / CURRENT
    if not pointer.exists():
        raise LinkageSetupError(f"no linkage model in {models_dir}: train one first (hub identities train)")
    version = pointer.read_text().strip()
    return LinkageModel.load(models_dir / f"linkage-{version}.json")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
