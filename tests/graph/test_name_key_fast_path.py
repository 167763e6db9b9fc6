"""`name_key`'s ASCII fast path (issue 13, import speed) gives exactly what the Unicode path gives."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from graph.models import name_key


def unicode_path(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split()).upper()


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_names_get_the_same_key_as_by_the_unicode_path(name: str) -> None:
    assert name_key(name) == unicode_path(name)


@given(st.text())
def test_any_name_gets_the_same_key_as_by_the_unicode_path(name: str) -> None:
    assert name_key(name) == unicode_path(name)


def test_accents_are_still_folded() -> None:
    assert name_key(" Ó  Súilleabháin ") == "O SUILLEABHAIN"
