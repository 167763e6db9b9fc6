"""NINO rules: property-based over the whole format, plus the documented exceptions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.errors import InvalidValue
from graph.nino import PREFIXES, is_valid_nino, normalise_nino

valid_ninos = st.builds(
    lambda p, d, s: f"{p}{d:06d}{s}",
    st.sampled_from(PREFIXES),
    st.integers(0, 999_999),
    st.sampled_from("ABCD"),
)


@given(valid_ninos, st.sampled_from([str.lower, str.upper, lambda x: " ".join([x[:2], x[2:4], x[4:6], x[6:8], x[8]])]))
def test_valid_ninos_normalise_to_upper_case_without_spaces(nino: str, form) -> None:  # type: ignore[no-untyped-def]
    assert normalise_nino(form(nino)) == nino


@given(st.text(max_size=20))
def test_arbitrary_text_is_either_valid_or_refused_with_invalid_value(text: str) -> None:
    try:
        out = normalise_nino(text)
    except InvalidValue as exc:
        assert exc.field == "nino"
    else:
        assert is_valid_nino(out) and len(out) == 9


@pytest.mark.parametrize(
    "bad",
    ["", "AB12345C", "AB1234567C", "AB123456E", "DA123456A", "AD123456A", "AO123456A", "BG123456A",
     "GB123456A", "NK123456A", "KN123456A", "TN123456A", "NT123456A", "ZZ123456A", "QQ123456C", "A1123456C"],
)  # fmt: skip
def test_known_invalid(bad: str) -> None:
    assert not is_valid_nino(bad)


def test_prefix_table() -> None:
    assert "AB" in PREFIXES and "OA" in PREFIXES and "AO" not in PREFIXES
    assert not {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"} & set(PREFIXES)
    assert len(PREFIXES) == len(set(PREFIXES))
