"""Who is asking: the verified identity behind a request (built by `hub.auth` from a token)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the token's `sub`: pairwise for citizens, never a global key
    roles: frozenset[str]
    issuer: str = ""
    person_id: str | None = None  # a citizen's own record, found through their identity link
    department: str | None = None  # partners
    purpose: str | None = None  # stated by caseworkers (X-Purpose), carried by partner tokens
    vot: tuple[str, ...] = ()  # GOV.UK One Login vector of trust components, e.g. ("Cl", "Cm", "P2")

    def has_auth_level(self, level: str) -> bool:
        return set(level.split(".")) <= set(self.vot)

    def has_confidence(self, level: str) -> bool:
        """P-levels are ordered: P2 satisfies a P2 requirement, so does P3."""
        want = int(level.removeprefix("P") or 0)
        have = [int(c[1:]) for c in self.vot if c.startswith("P") and c[1:].isdigit()]
        return bool(have) and max(have) >= want

    @property
    def actor_label(self) -> str:
        """How this principal appears in a citizen's access log."""
        if "partner" in self.roles and self.department:
            return f"partner:{self.department}"
        role = sorted(self.roles)[0] if self.roles else "unknown"
        return role
