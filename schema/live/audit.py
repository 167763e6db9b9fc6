"""Auditing what a subscription emits: each emission is a read of personal data like any query's.

Over HTTP the hub writes the access event before the response leaves (`hub.app`); a subscription's
emissions leave one by one over a socket, so each is recorded here, durably, before it is yielded. If the
trail cannot be written the emission is withheld and the subscription ends with AUDIT_UNAVAILABLE.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from graph.audit import Actor
from schema.context import Context
from schema.errors import HubError

log = logging.getLogger(__name__)


async def audit_emission(ctx: Context, people: Iterable[str], what: str) -> None:
    """Record that `what` (a subscription field) about `people` is about to reach the caller."""
    principal = ctx.principal
    reads = {p: [what] for p in people if p}
    if ctx.audit is None or principal is None or not reads:
        return
    role = "partner" if "partner" in principal.roles else ",".join(sorted(principal.roles))
    actor = Actor(subject=principal.subject, role=role, department=principal.department, purpose=principal.purpose)
    try:
        await ctx.audit.record(actor, ctx.request_id, reads)
    except Exception:
        log.exception("audit trail unavailable: subscription emission withheld")
        raise HubError("The audit trail is unavailable; try again.", "AUDIT_UNAVAILABLE") from None
