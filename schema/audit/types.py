"""Access-log entries: who read which fields of a person's record, when, and for what purpose."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph import audit


@strawberry.type(description="One request that read a person's record.")
class AccessEntry:
    at: datetime | None
    actor: str | None = strawberry.field(description="The reader's subject identifier (auditors only).")
    actor_role: str | None
    actor_department: str | None
    purpose: str | None
    request_id: str | None
    person_id: strawberry.ID | None
    fields: list[str] | None

    @classmethod
    def from_model(cls, e: audit.AccessEntry) -> AccessEntry:
        return cls(
            at=e.at,
            actor=e.actor,
            actor_role=e.actor_role,
            actor_department=e.actor_department,
            purpose=e.purpose,
            request_id=e.request_id,
            person_id=strawberry.ID(e.person_id),
            fields=list(e.fields),
        )
