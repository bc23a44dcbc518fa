"""Sessions started from an escalated L1 walk: the walk's problem, path and notes become the intake.

One engineer session per walk: the walk row is locked while we check, and a partial unique index
(account_id, l1_session_id) backs it, so two engineers taking the same walk at once get one session
and one 409 naming it.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import AiSession, L1Flow, L1InternalTicket, L1WalkSession
from shared.errors import Conflict, conflict
from shared.isotime import iso
from shared.l1.sessions import category_of, visible_path
from shared.lookup import fetch
from shared.sessions.service import create_session


def _taken(session_id: uuid.UUID) -> Conflict:
    return conflict("l1_session_taken", f"this walk was already taken by session {session_id}",
                    session_id=str(session_id))


def walk_intake(walk: L1WalkSession, flow: L1Flow | None, ticket: L1InternalTicket | None) -> dict[str, Any]:
    problem = ticket.problem_statement if ticket is not None else None
    return {
        "problem": problem or (flow.title if flow is not None else "Escalated L1 walk"),
        "customer_name": ticket.customer_name if ticket is not None else None,
        "customer_contact": ticket.customer_contact if ticket is not None else None,
        "l1_walk": {
            "l1_session_id": str(walk.id),
            "session_kind": walk.session_kind,
            "flow_title": flow.title if flow is not None else None,
            "category": category_of(walk) or (flow.category if flow is not None else None),
            "path": visible_path(walk),
            "notes": list(walk.walk_notes or []),
            "escalation_reason": walk.escalation_reason,
            "escalation_reason_category": walk.escalation_reason_category,
            "escalated_at": iso(walk.escalated_at),
        },
    }


def start_from_escalation(
    db: Session,
    *,
    account_id: uuid.UUID,
    created_by: uuid.UUID,
    l1_session_id: uuid.UUID,
    extra_intake: dict[str, Any],
    psa_connection_id: uuid.UUID | None,
    psa_ticket_id: str | None,
) -> AiSession:
    walk = fetch(db, L1WalkSession, l1_session_id, what="L1 session", code="l1_session_not_found", for_update=True)
    if walk.status != "escalated":
        raise conflict("l1_session_not_escalated", f"this walk is {walk.status}; only escalated walks can be taken",
                       l1_session_status=walk.status)
    existing = db.execute(select(AiSession.id).where(AiSession.l1_session_id == walk.id)).scalar_one_or_none()
    if existing is not None:
        raise _taken(existing)
    flow = db.get(L1Flow, walk.flow_id) if walk.flow_id else None
    ticket = db.get(L1InternalTicket, walk.ticket_id) if walk.ticket_id else None
    intake = {**extra_intake, **walk_intake(walk, flow, ticket)}
    try:
        with db.begin_nested():
            return create_session(db, account_id=account_id, created_by=created_by, intake_type="l1_escalation",
                                  intake=intake, psa_connection_id=psa_connection_id, psa_ticket_id=psa_ticket_id,
                                  l1_session_id=walk.id)
    except IntegrityError:
        winner = db.execute(select(AiSession.id).where(AiSession.l1_session_id == walk.id)).scalar_one_or_none()
        if winner is None:
            raise
        raise _taken(winner) from None


def taken_by(db: Session, walk_ids: list[uuid.UUID]) -> dict[uuid.UUID, AiSession]:
    """Which of these walks an engineer session was started from (the escalations queue shows it)."""
    if not walk_ids:
        return {}
    rows = db.execute(select(AiSession).where(AiSession.l1_session_id.in_(walk_ids))).scalars()
    return {r.l1_session_id: r for r in rows if r.l1_session_id is not None}
