"""writeback.reverify: re-fetch a closed session's ticket and compare with the status we verified."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from db.models import AiSession, Job, PsaConnection
from shared.errors import PermanentError
from workers.context import JobContext

KIND_FOR_STATUS = {"resolved": "writeback.resolution_note", "escalated": "writeback.escalation_package"}


def reverify(ctx: JobContext) -> dict[str, Any]:
    with ctx.tx() as db:
        session = db.get(AiSession, ctx.session_id)
        if session is None:
            raise PermanentError("session_not_found", "the session no longer exists")
        conn = db.get(PsaConnection, session.psa_connection_id) if session.psa_connection_id else None
        if conn is None or not session.psa_ticket_id:
            raise PermanentError("no_psa_ticket", "the session has no linked PSA ticket")
        verified = db.execute(
            select(Job.result).where(Job.session_id == session.id, Job.status == "succeeded",
                                     Job.kind == KIND_FOR_STATUS.get(session.status, ""))
            .order_by(Job.finished_at.desc()).limit(1)
        ).scalar_one_or_none() or {}
        ticket_id, status = session.psa_ticket_id, session.status
    expected = verified.get("verified_status_id")
    with ctx.slot("psa"):
        ticket = ctx.psa(conn).get_ticket(ticket_id)
    return {
        "session_id": str(ctx.session_id),
        "ticket_id": ticket_id,
        "session_status": status,
        "expected_status_id": expected,
        "observed_status_id": ticket.status_id,
        "observed_status_name": ticket.status_name,
        # None: we never verified a status for it (no transition was configured), nothing to compare.
        "matches": None if expected is None else ticket.status_id == expected,
    }
