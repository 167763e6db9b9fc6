"""Scalars the GraphQL built-ins lack."""

from __future__ import annotations

from typing import NewType

import strawberry

MAX_SAFE = 2**53 - 1  # what every JSON client (JavaScript included) reads back exactly


def _serialize(value: int) -> int:
    if not -MAX_SAFE <= value <= MAX_SAFE:
        raise ValueError("Long cannot represent a value beyond 2^53 - 1")
    return int(value)


def _parse(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_SAFE <= value <= MAX_SAFE:
        raise ValueError("Long must be a whole number within ±(2^53 - 1)")
    return value


# GraphQL's Int is 32-bit (about £21m in pence): totals across a caseload need more.
Long = NewType("Long", int)

# Given to the schema's config (StrawberryConfig.scalar_map).
SCALARS = {
    Long: strawberry.scalar(
        name="Long",
        description="A whole number within ±(2^53 - 1), sent as a JSON number (totals beyond Int's 32 bits).",
        serialize=_serialize,
        parse_value=_parse,
    )
}
