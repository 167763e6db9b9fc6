"""A trained Fellegi–Sunter model, loaded from its saved JSON and scoring pairs exactly as Splink does.

The saved document (written by `hub.linkage`) carries Splink's own settings dictionary, with every
level's m and u probability filled in, and the term-frequency tables Splink computed while training.
Scoring here follows Splink 5's SQL term by term (`splink/internals/predict.py`,
`comparison_level.py`): a level's weight is log2(m/u) with m and u clamped at 1e-300 (0 for the null
level); a term-frequency level adds `w * (log2(u_exact) - log2(max(tf_l, tf_r, tf_minimum_u)))`, or
nothing when neither value is in the table; the match weight is the prior's weight plus each
comparison's weight and adjustment in the model's order; and the probability is
`1 / (1 + 2^-weight)`. Splink is not imported: scoring one record costs microseconds, not a DuckDB
query. The version is a hash of the content, so the same model always has the same version and any
edit to a saved file is detected.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.linkage.errors import ModelError
from graph.linkage.features import COMPARISONS, Comparison, MatchRecord

FORMAT = "citizen-hub/linkage-model@1"
M_U_CLAMP_MIN = 1e-300  # Splink's clamp before taking log2(m/u)


def content_version(settings: Mapping[str, Any], tf_tables: Mapping[str, Mapping[str, float]]) -> str:
    """The model's version: a hash of what decides its scores (parameters and frequency tables)."""
    canonical = json.dumps({"settings": settings, "tf_tables": tf_tables}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def prob_to_match_weight(probability: float) -> float:
    return math.log2(probability / (1 - probability)) if probability != 1 else math.inf


def weight_to_probability(weight: float) -> float:
    """Splink's numerically stable form of 1 / (1 + 2^-weight)."""
    if weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -weight))
    bf = math.pow(2.0, weight)
    return bf / (1.0 + bf)


@dataclass(frozen=True, slots=True)
class LevelParams:
    label: str
    gamma: int
    m: float | None  # None for the null level
    u: float | None
    weight: float  # log2(m/u); 0 for the null level
    tf_column: str | None
    tf_weight: float
    tf_minimum_u: float
    log2_u_exact: float  # log2 of the u of the exact-match level on `tf_column`


@dataclass(frozen=True, slots=True)
class ComparisonParams:
    spec: Comparison
    levels: tuple[LevelParams, ...]
    has_tf: bool


@dataclass(frozen=True, slots=True)
class ComparisonScore:
    """One bar of the waterfall: which level held, and what it added to the match weight."""

    comparison: str
    level: str
    gamma: int
    weight: float
    tf_adjustment: float
    left: str | None
    right: str | None

    def as_data(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "level": self.level,
            "gamma": self.gamma,
            "weight": self.weight,
            "tfAdjustment": self.tf_adjustment,
            "left": self.left,
            "right": self.right,
        }


@dataclass(frozen=True, slots=True)
class Score:
    match_weight: float
    match_probability: float
    prior_weight: float
    comparisons: tuple[ComparisonScore, ...]

    @property
    def evidence(self) -> float:
        """Bits the comparisons add to the prior: what the pair itself says, whatever the register's size."""
        return self.match_weight - self.prior_weight

    def waterfall(self) -> list[dict[str, Any]]:
        """The explanation as data: the prior, then each comparison's contribution, in order."""
        return [{"comparison": "prior", "weight": self.prior_weight}] + [c.as_data() for c in self.comparisons]


def _same_sql(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


class LinkageModel:
    """A loaded model: `score(a, b)` gives Splink's match weight and probability for the pair."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            raise ModelError(f"not a linkage model (expected format {FORMAT!r})")
        try:
            settings = document["settings"]
            tf_tables = document["tf_tables"]
            version = document["version"]
        except KeyError as exc:
            raise ModelError(f"linkage model is missing {exc.args[0]!r}") from None
        if content_version(settings, tf_tables) != version:
            raise ModelError(f"linkage model {version} does not match its content: the file was changed")
        self.version: str = version
        self.document = document
        self.settings: Mapping[str, Any] = settings
        self.tf_tables: dict[str, dict[str, float]] = {k: dict(v) for k, v in tf_tables.items()}
        prior = settings.get("probability_two_random_records_match")
        if not isinstance(prior, int | float) or not 0 < prior < 1:
            raise ModelError("probability_two_random_records_match must be between 0 and 1")
        self.prior: float = float(prior)
        self.prior_weight: float = prob_to_match_weight(self.prior)
        self.comparisons: tuple[ComparisonParams, ...] = self._comparisons(settings)

    @classmethod
    def load(cls, path: Path) -> LinkageModel:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read linkage model {path}: {exc}") from exc
        return cls(document)

    def _comparisons(self, settings: Mapping[str, Any]) -> tuple[ComparisonParams, ...]:
        """Pair each saved comparison with its Python twin, refusing any drift between the two."""
        specs = {c.name: c for c in COMPARISONS}
        saved = settings.get("comparisons") or []
        names = [c.get("output_column_name") for c in saved]
        if sorted(n for n in names if n) != sorted(specs) or len(names) != len(specs):
            raise ModelError(f"model compares {names}, this hub defines {sorted(specs)}: retrain the model")
        out = []
        for comparison in saved:
            spec = specs[comparison["output_column_name"]]
            levels = comparison.get("comparison_levels") or []
            if len(levels) != len(spec.levels) or not all(
                _same_sql(saved_level["sql_condition"], level.sql)
                for saved_level, level in zip(levels, spec.levels, strict=False)
            ):
                raise ModelError(f"comparison {spec.name} was trained with other level definitions: retrain the model")
            params = [self._level(spec, levels, i) for i in range(len(levels))]
            out.append(ComparisonParams(spec, tuple(params), any(p.tf_column for p in params)))
        return tuple(out)

    def _level(self, spec: Comparison, levels: list[Mapping[str, Any]], i: int) -> LevelParams:
        saved = levels[i]
        level = spec.levels[i]
        gamma = spec.gamma(i)
        tf_column = saved.get("tf_adjustment_column")
        if tf_column != level.tf_column:
            raise ModelError(f"comparison {spec.name}: term-frequency column differs from this hub's definition")
        if level.is_null:
            return LevelParams(level.label, gamma, None, None, 0.0, None, 0.0, 0.0, 0.0)
        m, u = saved.get("m_probability"), saved.get("u_probability")
        if not isinstance(m, int | float) or not isinstance(u, int | float):
            raise ModelError(f"comparison {spec.name}, level {level.label!r}: m or u probability missing")
        weight = math.log2(max(m, M_U_CLAMP_MIN) / max(u, M_U_CLAMP_MIN))
        log2_u_exact = 0.0
        tf_weight = float(saved.get("tf_adjustment_weight", 1.0)) if tf_column else 0.0
        if tf_column:
            if tf_column not in self.tf_tables:
                raise ModelError(f"term-frequency table for {tf_column} missing from the model")
            exact = next(
                (lv for lv in levels if _same_sql(lv["sql_condition"], f"{tf_column}_l = {tf_column}_r")), None
            )
            if exact is None or not isinstance(exact.get("u_probability"), int | float):
                raise ModelError(f"comparison {spec.name}: no exact-match level for {tf_column}")
            log2_u_exact = math.log2(exact["u_probability"])
        return LevelParams(
            label=level.label,
            gamma=gamma,
            m=float(m),
            u=float(u),
            weight=weight,
            tf_column=tf_column,
            tf_weight=tf_weight,
            tf_minimum_u=float(saved.get("tf_minimum_u_value", 0.0)),
            log2_u_exact=log2_u_exact,
        )

    def score(self, a: MatchRecord, b: MatchRecord) -> Score:
        """Score a pair as Splink's `predict` would: the same levels, weights and summation order."""
        total = self.prior_weight
        parts = []
        for comparison in self.comparisons:
            spec = comparison.spec
            index = spec.level_index(a, b)
            level = comparison.levels[index]
            total += level.weight
            adjustment = 0.0
            if level.tf_column:
                table = self.tf_tables[level.tf_column]
                tf_a = table.get(getattr(a, level.tf_column))
                tf_b = table.get(getattr(b, level.tf_column))
                # greatest(coalesce(tf_l, tf_r), coalesce(tf_r, tf_l), tf_minimum_u), as in Splink's SQL
                tf_a = tf_b if tf_a is None else tf_a
                tf_b = tf_a if tf_b is None else tf_b
                if tf_a is not None and tf_b is not None:
                    tf_u = max(tf_a, tf_b, level.tf_minimum_u)
                    adjustment = level.tf_weight * (level.log2_u_exact - math.log2(tf_u))
            if comparison.has_tf:
                total += adjustment
            parts.append(
                ComparisonScore(
                    comparison=spec.name,
                    level=level.label,
                    gamma=level.gamma,
                    weight=level.weight,
                    tf_adjustment=adjustment,
                    left=getattr(a, spec.name),
                    right=getattr(b, spec.name),
                )
            )
        return Score(total, weight_to_probability(total), self.prior_weight, tuple(parts))

    def describe(self) -> list[dict[str, Any]]:
        """Every level's m, u and weight: what a steward reads to understand the model."""
        return [
            {
                "comparison": c.spec.name,
                "level": lv.label,
                "gamma": lv.gamma,
                "m": lv.m,
                "u": lv.u,
                "weight": lv.weight,
                "tfAdjusted": lv.tf_column is not None,
            }
            for c in self.comparisons
            for lv in c.levels
        ]
