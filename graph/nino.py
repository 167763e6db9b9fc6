"""UK National Insurance number (NINO) validation and normalisation.

Rules (HMRC NIM39110): two prefix letters, six digits, suffix A-D. The first letter is not D, F, I, Q,
U or V; the second is not D, F, I, O, Q, U or V; the prefixes BG, GB, KN, NK, NT, TN and ZZ are never
allocated (TN is a temporary number, not an identifier). Stored form: upper case, no spaces.
"""

from __future__ import annotations

import re

from graph.errors import InvalidValue

_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NEVER = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_SHAPE = re.compile(rf"[{_FIRST}][{_SECOND}]\d{{6}}[A-D]")

#: Every allocatable prefix, in a stable order (the seed generator draws from it).
PREFIXES: tuple[str, ...] = tuple(a + b for a in _FIRST for b in _SECOND if a + b not in _NEVER)


def normalise_nino(raw: str, field: str = "nino") -> str:
    """Return the canonical form of `raw` or raise `InvalidValue` saying what is wrong."""
    if not isinstance(raw, str):
        raise InvalidValue(field, "must be a string")
    value = "".join(raw.split()).upper()
    if len(value) != 9:
        raise InvalidValue(field, "a National Insurance number has 9 characters, like AB123456C")
    if not _SHAPE.fullmatch(value):
        raise InvalidValue(field, f"{raw!r} is not a valid National Insurance number")
    if value[:2] in _NEVER:
        raise InvalidValue(field, f"prefix {value[:2]} is never allocated")
    return value


def is_valid_nino(raw: str) -> bool:
    try:
        normalise_nino(raw)
    except InvalidValue:
        return False
    return True
