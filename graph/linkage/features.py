"""What two records are compared on: normalised fields and the comparison levels of the model.

Each level is written twice, side by side: as the SQL condition Splink evaluates in DuckDB while
training (and in its own predictions), and as the Python predicate the hub evaluates in real time.
The two must agree on every pair, or the hub's scores would drift from the model it claims to use;
`model.LinkageModel` refuses a saved model whose SQL differs from the conditions below, and the tests
compare both evaluations pair by pair. Levels are tried top to bottom and the first that holds wins
(a SQL `CASE`); the null level comes first and contributes no evidence.

Comparisons (after Splink's comparison-level library, written out so that both sides are exact):

- given name: exact, names swapped with the family name, nickname (Bob/Robert), initial, Jaro–Winkler >= 0.9
- family name: exact (term-frequency adjusted), Jaro–Winkler >= 0.92 (swapped names count under given name)
- date of birth: exact, day and month transposed, one edit (Damerau–Levenshtein <= 1), same year
- postcode: exact (term-frequency adjusted), same outward code
- address line: exact, Jaro–Winkler >= 0.9, compared only when the postcodes agree (or one is missing)

Fellegi–Sunter adds the comparisons' weights as if they were independent evidence. Where they are
not (names swapped between the two fields; a move changing postcode and address together) one of
them stands aside as a null level, so the same fact is not counted twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from graph.errors import InvalidValue
from graph.linkage.errors import InvalidRecord
from graph.linkage.nicknames import name_groups
from graph.models import name_key
from graph.validation import check_birth_date, clean_name, normalise_postcode

MAX_ADDRESS = 200

# Street-type abbreviations expanded in the last word of an address line ("12 Mill Rd" = "12 Mill Road").
_STREET_TYPES = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "LN": "LANE",
    "DR": "DRIVE",
    "CT": "COURT",
    "CRES": "CRESCENT",
    "CL": "CLOSE",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GR": "GROVE",
    "PL": "PLACE",
    "SQ": "SQUARE",
    "TER": "TERRACE",
    "TCE": "TERRACE",
    "PK": "PARK",
    "WY": "WAY",
}
_NOT_LETTER = re.compile(r"[^A-Z ]+")
_NOT_WORD = re.compile(r"[^A-Z0-9 ]+")


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One side of a comparison: the normalised fields the model compares (None = not known)."""

    given_name: str | None
    family_name: str | None
    date_of_birth: str | None  # ISO yyyy-mm-dd, compared as text as Splink does
    postcode: str | None  # 'SW1A 1AA'
    address_line: str | None
    given_name_groups: tuple[str, ...] = ()

    def as_row(self, unique_id: str) -> dict[str, Any]:
        """The record as a row of Splink's input table."""
        return {
            "unique_id": unique_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "given_name_groups": list(self.given_name_groups),
            "date_of_birth": self.date_of_birth,
            "postcode": self.postcode,
            "address_line": self.address_line,
        }


# --- normalisation -------------------------------------------------------------------------------


def normalise_name(value: str | None) -> str | None:
    """'Ó'Súilleabháin-Smith' -> 'OSUILLEABHAIN SMITH': case, accents and punctuation do not count."""
    if value is None:
        return None
    key = name_key(value.replace("-", " "))
    letters = " ".join(_NOT_LETTER.sub("", key).split())
    return letters or None


def normalise_address_line(value: str | None) -> str | None:
    """'12, Mill Rd.' -> '12 MILL ROAD'."""
    if value is None:
        return None
    words = _NOT_WORD.sub(" ", name_key(value)).split()
    if not words:
        return None
    words[-1] = _STREET_TYPES.get(words[-1], words[-1])
    return " ".join(words)


def make_record(
    given_name: str | None,
    family_name: str | None,
    date_of_birth: date | None,
    postcode: str | None,
    address_line: str | None,
) -> MatchRecord:
    """A record from data the hub already holds (the core record): normalised, never refused.

    A stored postcode that does not parse is treated as unknown rather than failing a whole match.
    """
    try:
        pc = normalise_postcode(postcode) if postcode else None
    except InvalidValue:
        pc = None
    given = normalise_name(given_name)
    return MatchRecord(
        given_name=given,
        family_name=normalise_name(family_name),
        date_of_birth=date_of_birth.isoformat() if date_of_birth else None,
        postcode=pc,
        address_line=normalise_address_line(address_line),
        given_name_groups=name_groups(given),
    )


def parse_external(raw: Mapping[str, Any], *, today: date | None = None) -> MatchRecord:
    """Validate an incoming record and normalise it; refuse it with every problem named.

    Fields (camelCase, as the hub's API spells them): givenName, familyName, dateOfBirth
    (YYYY-MM-DD), postcode, addressLine; others are ignored.

    Required: a given name, a family name, and a date of birth or a postcode (names alone cannot
    reach either threshold and would only fill the review queue). Present fields must be well
    formed: a date that is not a real ISO date, a postcode that is not a UK postcode or a name made
    of symbols is refused, not guessed around.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRecord([("record", "must be an object")])
    problems: list[tuple[str, str]] = []

    def text(field: str) -> str | None:
        value = raw.get(field)
        if value is None:
            return None
        if isinstance(value, date) and field == "dateOfBirth":
            return value.isoformat()
        if not isinstance(value, str):
            problems.append((field, f"must be a string, not {type(value).__name__}"))
            return None
        return value.strip() or None

    names: dict[str, str | None] = {}
    for field in ("givenName", "familyName"):
        value = text(field)
        if value is None:
            if not any(f == field for f, _ in problems):
                problems.append((field, "is required"))
            names[field] = None
            continue
        try:
            names[field] = normalise_name(clean_name(value, field))
        except InvalidValue as exc:
            problems.append((field, exc.reason))
            names[field] = None
            continue
        if names[field] is None:
            problems.append((field, "has no letters"))

    dob: str | None = None
    dob_text = text("dateOfBirth")
    if dob_text is not None:
        try:
            parsed = date.fromisoformat(dob_text)
            if len(dob_text) != 10:
                raise ValueError(dob_text)
            dob = check_birth_date(parsed, today=today).isoformat()
        except InvalidValue as exc:
            problems.append(("dateOfBirth", exc.reason))
        except ValueError:
            problems.append(("dateOfBirth", f"{dob_text!r} is not a date (YYYY-MM-DD)"))

    postcode: str | None = None
    postcode_text = text("postcode")
    if postcode_text is not None:
        try:
            postcode = normalise_postcode(postcode_text)
        except InvalidValue as exc:
            problems.append(("postcode", exc.reason))

    address: str | None = None
    address_text = text("addressLine")
    if address_text is not None:
        if len(address_text) > MAX_ADDRESS:
            problems.append(("addressLine", f"must be at most {MAX_ADDRESS} characters"))
        else:
            address = normalise_address_line(address_text)
            if address is None:
                problems.append(("addressLine", "has no letters or digits"))

    if dob_text is None and postcode_text is None and not any(f in ("dateOfBirth", "postcode") for f, _ in problems):
        problems.append(("record", "needs a dateOfBirth or a postcode to be matched"))
    if problems:
        raise InvalidRecord(problems)
    given = names["givenName"]
    return MatchRecord(
        given_name=given,
        family_name=names["familyName"],
        date_of_birth=dob,
        postcode=postcode,
        address_line=address,
        given_name_groups=name_groups(given),
    )


# --- string similarity, as DuckDB computes it ------------------------------------------------------


def jaro_winkler(s1: str, s2: str) -> float:
    """Jaro–Winkler similarity bit for bit as DuckDB's `jaro_winkler_similarity` (rapidfuzz's
    algorithm: prefix weight 0.1 over at most 4 characters, boost only above 0.7, 0.0 when either
    string is empty), so a level boundary such as >= 0.9 falls on the same side in both."""
    if not s1 or not s2:
        return 0.0
    if s1 == s2:
        return 1.0
    len1, len2 = len(s1), len(s2)
    window = max(max(len1, len2) // 2 - 1, 0)
    flags1 = [False] * len1
    flags2 = [False] * len2
    matches = 0
    for i, c in enumerate(s1):
        lo = max(0, i - window)
        hi = min(len2, i + window + 1)
        for j in range(lo, hi):
            if not flags2[j] and s2[j] == c:
                flags1[i] = flags2[j] = True
                matches += 1
                break
    if matches == 0:
        return 0.0
    transpositions = 0
    j = 0
    for i in range(len1):
        if flags1[i]:
            while not flags2[j]:
                j += 1
            if s1[i] != s2[j]:
                transpositions += 1
            j += 1
    m = float(matches)
    sim = (m / len1 + m / len2 + (m - transpositions // 2) / m) / 3.0
    if sim > 0.7:
        prefix = 0
        for a, b in zip(s1[:4], s2[:4], strict=False):
            if a != b:
                break
            prefix += 1
        if prefix:
            # DuckDB's build fuses `sim + p * (1 - sim)` into one multiply-add (a single rounding);
            # computing it exactly and rounding once gives the same bits.
            sim = float(Fraction(prefix * 0.1) * Fraction(1.0 - sim) + Fraction(sim))
    return sim


def within_one_edit(a: str, b: str) -> bool:
    """Damerau–Levenshtein distance <= 1: equal, or one substitution, insertion, deletion or
    transposition of adjacent characters (at distance one every variant of the metric agrees)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


# --- comparison levels ------------------------------------------------------------------------------

Test = Callable[[MatchRecord, MatchRecord], bool]


@dataclass(frozen=True, slots=True)
class Level:
    """One comparison level: its chart label, its SQL for Splink and its Python twin."""

    label: str
    sql: str
    test: Test | None  # None only for the final "else" level, which always holds
    is_null: bool = False
    tf_column: str | None = None  # term-frequency adjustment on this (exact) level

    def splink_dict(self) -> dict[str, Any]:
        level: dict[str, Any] = {"sql_condition": self.sql, "label_for_charts": self.label}
        if self.is_null:
            level["is_null_level"] = True
        if self.tf_column:
            level["tf_adjustment_column"] = self.tf_column
            level["tf_adjustment_weight"] = 1.0
        return level


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str  # Splink's output_column_name: columns mw_<name>, gamma_<name>
    description: str
    levels: tuple[Level, ...]

    def level_index(self, a: MatchRecord, b: MatchRecord) -> int:
        """Index in `levels` of the first level that holds (the SQL `CASE`)."""
        for i, level in enumerate(self.levels):
            if level.test is None or level.test(a, b):
                return i
        raise AssertionError(f"comparison {self.name} has no else level")

    def gamma(self, index: int) -> int:
        """Splink's comparison vector value for a level: -1 for a null level; the others count down to 0."""
        if self.levels[index].is_null:
            return -1
        return sum(1 for level in self.levels[index + 1 :] if not level.is_null)

    def splink_dict(self) -> dict[str, Any]:
        return {
            "output_column_name": self.name,
            "comparison_description": self.description,
            "comparison_levels": [level.splink_dict() for level in self.levels],
        }


def _null(field: str) -> Test:
    def test(a: MatchRecord, b: MatchRecord) -> bool:
        return getattr(a, field) is None or getattr(b, field) is None

    return test


def _address_not_comparable(a: MatchRecord, b: MatchRecord) -> bool:
    if a.address_line is None or b.address_line is None:
        return True
    return a.postcode is not None and b.postcode is not None and a.postcode != b.postcode


def _jw(a: str | None, b: str | None, threshold: float) -> bool:
    return a is not None and b is not None and jaro_winkler(a, b) >= threshold


def _swapped(a: MatchRecord, b: MatchRecord) -> bool:
    return (
        a.given_name is not None
        and a.given_name == b.family_name
        and a.family_name is not None
        and a.family_name == b.given_name
    )


def _initial(a: MatchRecord, b: MatchRecord) -> bool:
    x, y = a.given_name, b.given_name
    return x is not None and y is not None and (len(x) == 1 or len(y) == 1) and x[0] == y[0]


def _dob_swapped(a: MatchRecord, b: MatchRecord) -> bool:
    x, y = a.date_of_birth, b.date_of_birth
    return x is not None and y is not None and x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]


def _outward(postcode: str) -> str:
    return postcode.split(" ", 1)[0]


SWAPPED_SQL = "given_name_l = family_name_r AND family_name_l = given_name_r"

GIVEN_NAME = Comparison(
    "given_name",
    "Given name: exact, swapped with family name, nickname, initial, Jaro-Winkler >= 0.9",
    (
        Level("null", "given_name_l IS NULL OR given_name_r IS NULL", _null("given_name"), is_null=True),
        Level("exact", "given_name_l = given_name_r", lambda a, b: a.given_name == b.given_name),
        Level("swapped with family name", SWAPPED_SQL, _swapped),
        Level(
            "nickname",
            "list_has_any(given_name_groups_l, given_name_groups_r)",
            lambda a, b: not set(a.given_name_groups).isdisjoint(b.given_name_groups),
        ),
        Level(
            "initial",
            "(length(given_name_l) = 1 OR length(given_name_r) = 1) "
            "AND substr(given_name_l, 1, 1) = substr(given_name_r, 1, 1)",
            _initial,
        ),
        Level(
            "Jaro-Winkler >= 0.9",
            "jaro_winkler_similarity(given_name_l, given_name_r) >= 0.9",
            lambda a, b: _jw(a.given_name, b.given_name, 0.9),
        ),
        Level("else", "ELSE", None),
    ),
)

FAMILY_NAME = Comparison(
    "family_name",
    "Family name: exact (term-frequency adjusted), Jaro-Winkler >= 0.92",
    (
        Level("null", "family_name_l IS NULL OR family_name_r IS NULL", _null("family_name"), is_null=True),
        Level(
            "exact",
            "family_name_l = family_name_r",
            lambda a, b: a.family_name == b.family_name,
            tf_column="family_name",
        ),
        # Counted once, under the given name: the two comparisons are not independent here.
        Level("swapped with given name (counted under given name)", SWAPPED_SQL, _swapped, is_null=True),
        Level(
            "Jaro-Winkler >= 0.92",
            "jaro_winkler_similarity(family_name_l, family_name_r) >= 0.92",
            lambda a, b: _jw(a.family_name, b.family_name, 0.92),
        ),
        Level("else", "ELSE", None),
    ),
)

DATE_OF_BIRTH = Comparison(
    "date_of_birth",
    "Date of birth: exact, day/month transposed, one edit, same year",
    (
        Level("null", "date_of_birth_l IS NULL OR date_of_birth_r IS NULL", _null("date_of_birth"), is_null=True),
        Level("exact", "date_of_birth_l = date_of_birth_r", lambda a, b: a.date_of_birth == b.date_of_birth),
        Level(
            "day and month transposed",
            "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4) "
            "AND substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2) "
            "AND substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)",
            _dob_swapped,
        ),
        Level(
            "one edit",
            "damerau_levenshtein(date_of_birth_l, date_of_birth_r) <= 1",
            lambda a, b: within_one_edit(a.date_of_birth or "", b.date_of_birth or ""),
        ),
        Level(
            "same year",
            "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4)",
            lambda a, b: (a.date_of_birth or "")[:4] == (b.date_of_birth or "")[:4],
        ),
        Level("else", "ELSE", None),
    ),
)

POSTCODE = Comparison(
    "postcode",
    "Postcode: exact (term-frequency adjusted), same outward code",
    (
        Level("null", "postcode_l IS NULL OR postcode_r IS NULL", _null("postcode"), is_null=True),
        Level("exact", "postcode_l = postcode_r", lambda a, b: a.postcode == b.postcode, tf_column="postcode"),
        Level(
            "same outward code",
            "split_part(postcode_l, ' ', 1) = split_part(postcode_r, ' ', 1)",
            lambda a, b: _outward(a.postcode or "") == _outward(b.postcode or ""),
        ),
        Level("else", "ELSE", None),
    ),
)

ADDRESS_LINE = Comparison(
    "address_line",
    "Address line within one postcode: exact, Jaro-Winkler >= 0.9",
    (
        # The address line is evidence only within one postcode: after a move both differ, and
        # counting the move twice would sink every record of someone who moved house.
        Level(
            "null, or postcodes differ",
            "address_line_l IS NULL OR address_line_r IS NULL OR postcode_l <> postcode_r",
            _address_not_comparable,
            is_null=True,
        ),
        Level("exact", "address_line_l = address_line_r", lambda a, b: a.address_line == b.address_line),
        Level(
            "Jaro-Winkler >= 0.9",
            "jaro_winkler_similarity(address_line_l, address_line_r) >= 0.9",
            lambda a, b: _jw(a.address_line, b.address_line, 0.9),
        ),
        Level("else", "ELSE", None),
    ),
)

COMPARISONS: tuple[Comparison, ...] = (GIVEN_NAME, FAMILY_NAME, DATE_OF_BIRTH, POSTCODE, ADDRESS_LINE)
TF_COLUMNS: tuple[str, ...] = tuple(
    level.tf_column for comparison in COMPARISONS for level in comparison.levels if level.tf_column
)
