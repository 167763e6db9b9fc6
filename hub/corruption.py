"""Realistic damage to copies of people's records, as other registers hold them: the labelled set of
`python -m bench.linkage` and the demo's external records (`hub.demo_identities`) are made with it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from graph.linkage.nicknames import NAME_GROUPS, NICKNAMES
from hub.seed import TODAY, Pools

STREET_ABBREVIATIONS = {"Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Drive": "Dr", "Close": "Cl"}


class Person(Protocol):
    """The fields of a person a copy is made from."""

    @property
    def given(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def born(self) -> date: ...
    @property
    def line1(self) -> str: ...
    @property
    def postcode(self) -> str: ...


class Corruptor:
    """Realistic damage to a copy of a record, field by field, with the rates of admin data."""

    # (name, probability) in the order they are tried; several may apply to one record
    RATES: tuple[tuple[str, float], ...] = (
        ("nickname", 0.08),
        ("given_typo", 0.04),
        ("initial", 0.02),
        ("family_typo", 0.04),
        ("family_changed", 0.015),
        ("swapped_names", 0.015),
        ("dob_transposed", 0.02),
        ("dob_typo", 0.03),
        ("dob_missing", 0.03),
        ("moved", 0.12),
        ("moved_nearby", 0.02),
        ("address_variant", 0.06),
        ("postcode_missing", 0.03),
        ("address_missing", 0.03),
    )

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools

    def copy(self, person: Person, forced: Sequence[str] = ()) -> tuple[dict[str, Any], tuple[str, ...]]:
        rng = self.rng
        f: dict[str, Any] = {
            "givenName": person.given,
            "familyName": person.family,
            "dateOfBirth": person.born.isoformat(),
            "postcode": person.postcode,
            "addressLine": person.line1,
        }
        applied = []
        for name, rate in self.RATES:
            if (name in forced or rng.random() < rate) and getattr(self, name)(f):
                applied.append(name)
        if f.get("dateOfBirth") is None and f.get("postcode") is None:  # a source sends one or the other
            f["postcode"] = person.postcode
        self._format_noise(f)
        return {k: v for k, v in f.items() if v is not None}, tuple(applied)

    # each returns True when it changed something
    def nickname(self, f: dict[str, Any]) -> bool:
        name = f["givenName"].upper()
        options = set(NICKNAMES.get(name, ())) | {
            c for c in NAME_GROUPS.get(name, ()) if c != name
        }  # familiar forms, or the formal name
        options.discard(name)
        if not options:
            return False
        f["givenName"] = self.rng.choice(sorted(options)).title()
        return True

    def _typo(self, word: str) -> str:
        rng = self.rng
        letters = list(word)
        i = rng.randrange(1, len(letters)) if len(letters) > 1 else 0
        op = rng.random()
        if op < 0.35:
            letters[i] = rng.choice("aeioulnrst")
        elif op < 0.6 and i < len(letters) - 1:
            letters[i], letters[i + 1] = letters[i + 1], letters[i]
        elif op < 0.8 and len(letters) > 3:
            del letters[i]
        else:
            letters.insert(i, letters[i - 1] if i else "e")
        out = "".join(letters)
        return out if out.lower() != word.lower() else word + "e"

    def given_typo(self, f: dict[str, Any]) -> bool:
        f["givenName"] = self._typo(f["givenName"])
        return True

    def initial(self, f: dict[str, Any]) -> bool:
        f["givenName"] = f["givenName"][0] + self.rng.choice(("", "."))
        return True

    def family_typo(self, f: dict[str, Any]) -> bool:
        f["familyName"] = self._typo(f["familyName"])
        return True

    def family_changed(self, f: dict[str, Any]) -> bool:
        f["familyName"] = self.rng.choice(self.pools.family)
        return True

    def swapped_names(self, f: dict[str, Any]) -> bool:
        f["givenName"], f["familyName"] = f["familyName"], f["givenName"]
        return True

    def dob_transposed(self, f: dict[str, Any]) -> bool:
        born = date.fromisoformat(f["dateOfBirth"]) if f.get("dateOfBirth") else None
        if born is None or born.day > 12 or born.day == born.month:
            return False
        f["dateOfBirth"] = date(born.year, born.day, born.month).isoformat()
        return True

    def dob_typo(self, f: dict[str, Any]) -> bool:
        text = f.get("dateOfBirth")
        if text is None:
            return False
        for _ in range(20):
            i = self.rng.choice((2, 3, 6, 8, 9))  # a year, month or day digit
            candidate = text[:i] + str(self.rng.randrange(10)) + text[i + 1 :]
            try:
                parsed = date.fromisoformat(candidate)
            except ValueError:
                continue
            if candidate != text and parsed <= TODAY:
                f["dateOfBirth"] = candidate
                return True
        return False

    def dob_missing(self, f: dict[str, Any]) -> bool:
        f["dateOfBirth"] = None
        return True

    def moved(self, f: dict[str, Any]) -> bool:
        f["postcode"] = self.rng.choice(self.pools.postcodes)
        f["addressLine"] = f"{self.rng.randint(1, 250)} {self.rng.choice(self.pools.streets)}"
        return True

    def moved_nearby(self, f: dict[str, Any]) -> bool:
        if f.get("postcode") is None:
            return False
        outward = f["postcode"].split()[0]
        rng = self.rng
        f["postcode"] = (
            f"{outward} {rng.randrange(10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        )
        f["addressLine"] = f"{rng.randint(1, 250)} {rng.choice(self.pools.streets)}"
        return True

    def address_variant(self, f: dict[str, Any]) -> bool:
        line = f.get("addressLine")
        if line is None:
            return False
        number, _, street = line.partition(" ")
        words = street.split()
        if words and words[-1] in STREET_ABBREVIATIONS and self.rng.random() < 0.5:
            words[-1] = STREET_ABBREVIATIONS[words[-1]]
        elif words:
            words[0] = self._typo(words[0])
        f["addressLine"] = f"{number}, {' '.join(words)}" if self.rng.random() < 0.3 else f"{number} {' '.join(words)}"
        return True

    def postcode_missing(self, f: dict[str, Any]) -> bool:
        f["postcode"] = None
        return True

    def address_missing(self, f: dict[str, Any]) -> bool:
        f["addressLine"] = None
        return True

    def _format_noise(self, f: dict[str, Any]) -> None:
        """How sources differ without being wrong: case, spacing of postcodes."""
        rng = self.rng
        if rng.random() < 0.2:
            f["givenName"], f["familyName"] = f["givenName"].upper(), f["familyName"].upper()
        if f.get("postcode") and rng.random() < 0.2:
            f["postcode"] = f["postcode"].replace(" ", "").lower()
