"""Validation of person fields other than the NINO (see `graph.nino`)."""

from __future__ import annotations

import re
from datetime import date

from graph.errors import InvalidValue

MAX_NAME = 100
EARLIEST_BIRTH = date(1890, 1, 1)
# UK postcode shape (outward code, space, inward code); GIR 0AA is the one historical exception.
_POSTCODE = re.compile(r"([A-Z]{1,2}\d[A-Z\d]?|GIR) ?(\d[A-Z]{2})")


def clean_name(value: str, field: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidValue(field, "must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidValue(field, f"must be at most {MAX_NAME} characters")
    if any(not (c.isalpha() or c in " '-.") for c in name):
        raise InvalidValue(field, "may contain only letters, spaces, hyphens, apostrophes and full stops")
    return name


def check_birth_date(value: date, field: str = "dateOfBirth", today: date | None = None) -> date:
    today = today or date.today()
    if value > today:
        raise InvalidValue(field, "must not be in the future")
    if value < EARLIEST_BIRTH:
        raise InvalidValue(field, f"must not be before {EARLIEST_BIRTH.isoformat()}")
    return value


def normalise_postcode(value: str, field: str = "postcode") -> str:
    """'sw1a1aa' -> 'SW1A 1AA'."""
    match = _POSTCODE.fullmatch("".join(value.split()).upper())
    if not match:
        raise InvalidValue(field, f"{value!r} is not a UK postcode")
    return f"{match.group(1)} {match.group(2)}"
