"""Record normalisation, refusals, and the Python twins of DuckDB's string functions."""

from __future__ import annotations

import random
from datetime import date

import duckdb
import pytest

from graph.linkage.errors import InvalidRecord
from graph.linkage.features import (
    COMPARISONS,
    MatchRecord,
    jaro_winkler,
    make_record,
    normalise_address_line,
    normalise_name,
    parse_external,
    within_one_edit,
)
from graph.linkage.nicknames import name_groups
from hub.seed import Pools

TODAY = date(2026, 11, 1)
GOOD = {
    "givenName": "Bob",
    "familyName": "O'Brien-Smith",
    "dateOfBirth": "1971-05-24",
    "postcode": "sw1a1aa",
    "addressLine": "12, Mill Rd.",
}


def test_external_record_is_normalised() -> None:
    record = parse_external(GOOD, today=TODAY)
    assert record == MatchRecord(
        given_name="BOB",
        family_name="OBRIEN SMITH",
        date_of_birth="1971-05-24",
        postcode="SW1A 1AA",
        address_line="12 MILL ROAD",
        given_name_groups=("ROBERT",),
    )


def test_normalisation_folds_case_accents_and_punctuation() -> None:
    assert normalise_name("  Siân ") == "SIAN"
    assert normalise_name("Ó Súilleabháin") == "O SUILLEABHAIN"
    assert normalise_name("...") is None
    assert normalise_address_line("Flat 2, 10 High St") == "FLAT 2 10 HIGH STREET"
    assert make_record("Ann", "Lee", None, "not a postcode", None).postcode is None  # stored data is never refused


def test_nicknames_map_both_ways() -> None:
    assert name_groups("BOB") == ("ROBERT",)
    assert name_groups("ROBERT") == ("ROBERT",)
    assert name_groups("PEGGY") == ("MARGARET",)
    assert set(name_groups("ALEX")) == {"ALEXANDER", "ALEXANDRA"}
    assert name_groups("ZEBEDEE") == ()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({**GOOD, "givenName": None}, ("givenName", "is required")),
        ({k: v for k, v in GOOD.items() if k != "familyName"}, ("familyName", "is required")),
        ({**GOOD, "dateOfBirth": "1971-13-40"}, ("dateOfBirth", "'1971-13-40' is not a date (YYYY-MM-DD)")),
        ({**GOOD, "dateOfBirth": "24/05/1971"}, ("dateOfBirth", "'24/05/1971' is not a date (YYYY-MM-DD)")),
        ({**GOOD, "dateOfBirth": "2999-01-01"}, ("dateOfBirth", "must not be in the future")),
        ({**GOOD, "postcode": "not a postcode"}, ("postcode", "'not a postcode' is not a UK postcode")),
        (
            {**GOOD, "givenName": "@@##!!"},
            ("givenName", "may contain only letters, spaces, hyphens, apostrophes and full stops"),
        ),
        ({**GOOD, "familyName": 42}, ("familyName", "must be a string, not int")),
        ({**GOOD, "addressLine": "x" * 500}, ("addressLine", "must be at most 200 characters")),
        ({"givenName": "Ann", "familyName": "Lee"}, ("record", "needs a dateOfBirth or a postcode to be matched")),
    ],
)
def test_malformed_records_are_refused_with_the_reason(fields: dict[str, object], problem: tuple[str, str]) -> None:
    with pytest.raises(InvalidRecord) as info:
        parse_external(fields, today=TODAY)
    assert problem in info.value.problems
    assert info.value.code == "BAD_USER_INPUT"
    assert problem[0] in str(info.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidRecord) as info:
        parse_external({"givenName": "", "familyName": "!!", "dateOfBirth": "soon", "postcode": "??"}, today=TODAY)
    assert {field for field, _ in info.value.problems} == {"givenName", "familyName", "dateOfBirth", "postcode"}


def test_garbage_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(InvalidRecord):
        parse_external(["not", "a", "record"], today=TODAY)  # type: ignore[arg-type]


def _name_pairs(n: int) -> list[tuple[str, str]]:
    """Names from the seed pools, half with typos, plus short strings where edge cases live."""
    rng = random.Random(5)
    pools = Pools.build(5)
    names = [x.upper() for x in pools.female + pools.male + pools.family]
    pairs = []
    for _ in range(n):
        a = rng.choice(names)
        if rng.random() < 0.6:
            b = list(a)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(b))
                op = rng.random()
                if op < 0.4:
                    b[i] = rng.choice("AEIOURST")
                elif op < 0.7 and i + 1 < len(b):
                    b[i], b[i + 1] = b[i + 1], b[i]
                elif len(b) > 1:
                    del b[i]
            pairs.append((a, "".join(b) or "A"))
        else:
            pairs.append((a, rng.choice(names)))
    for _ in range(n // 4):
        pairs.append(tuple("".join(rng.choice("AB") for _ in range(rng.randint(1, 6))) for _ in range(2)))  # type: ignore[arg-type]
    return pairs


def test_jaro_winkler_equals_duckdb_bit_for_bit() -> None:
    pairs = _name_pairs(20_000)
    rows = duckdb.execute(
        "SELECT a, b, jaro_winkler_similarity(a, b) FROM (SELECT unnest($1) AS a, unnest($2) AS b)",
        [[a for a, _ in pairs], [b for _, b in pairs]],
    ).fetchall()
    mismatches = [(a, b, want, jaro_winkler(a, b)) for a, b, want in rows if jaro_winkler(a, b) != want]
    assert mismatches == []


def test_one_edit_equals_duckdb_damerau_levenshtein() -> None:
    rng = random.Random(9)
    pairs = _name_pairs(5_000)
    for _ in range(5_000):
        d = f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        i = rng.randrange(len(d))
        pairs.append((d, d[:i] + rng.choice("0123456789") + d[i + 1 :]))
        pairs.append((d, d[:i] + d[i + 1 :]))
        if i + 1 < len(d):
            pairs.append((d, d[:i] + d[i + 1] + d[i] + d[i + 2 :]))
    rows = duckdb.execute(
        "SELECT a, b, damerau_levenshtein(a, b) <= 1 FROM (SELECT unnest($1) AS a, unnest($2) AS b)",
        [[a for a, _ in pairs], [b for _, b in pairs]],
    ).fetchall()
    assert [(a, b) for a, b, want in rows if within_one_edit(a, b) != want] == []


def test_every_comparison_ends_in_else_and_starts_with_null() -> None:
    for comparison in COMPARISONS:
        assert comparison.levels[0].is_null
        assert comparison.levels[-1].test is None and comparison.levels[-1].sql == "ELSE"
        assert sorted(
            comparison.gamma(i) for i in range(len(comparison.levels)) if not comparison.levels[i].is_null
        ) == (list(range(sum(1 for lv in comparison.levels if not lv.is_null))))
