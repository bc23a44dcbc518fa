"""Internal tickets: what L1 opens when a call has no PSA ticket; the L1 queue lists them."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import L1InternalTicket, L1WalkSession
from shared.isotime import iso
from shared.pagination import next_cursor, page


def create_ticket(
    db: Session,
    *,
    account_id: uuid.UUID,
    created_by: uuid.UUID | None,
    problem_statement: str,
    customer_name: str | None,
    customer_contact: str | None,
    status: str = "in_progress",
) -> L1InternalTicket:
    ticket = L1InternalTicket(
        id=uuid.uuid4(), account_id=account_id, created_by=created_by, problem_statement=problem_statement,
        customer_name=customer_name, customer_contact=customer_contact, status=status,
    )
    db.add(ticket)
    db.flush()
    db.refresh(ticket)
    return ticket


def set_status(db: Session, ticket_id: uuid.UUID | None, status: str) -> None:
    if ticket_id is not None:
        db.execute(
            update(L1InternalTicket)
            .where(L1InternalTicket.id == ticket_id)
            .values(status=status, updated_at=func.now())
        )


def list_queue(
    db: Session, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Tickets newest first, each with its latest walk session (id, kind, status)."""
    stmt = select(L1InternalTicket)
    if status:
        stmt = stmt.where(L1InternalTicket.status == status)
    rows, cursor_out = next_cursor(list(db.execute(page(stmt, L1InternalTicket, cursor, limit)).scalars()), limit)
    latest: dict[uuid.UUID, L1WalkSession] = {}
    if rows:
        sessions = db.execute(
            select(L1WalkSession)
            .where(L1WalkSession.ticket_id.in_([t.id for t in rows]))
            .order_by(L1WalkSession.started_at, L1WalkSession.id)
        ).scalars()
        for s in sessions:
            assert s.ticket_id is not None
            latest[s.ticket_id] = s  # the newest wins
    return [queue_row(t, latest.get(t.id)) for t in rows], cursor_out


def ticket_to_dict(t: L1InternalTicket) -> dict[str, Any]:
    return {
        "ticket_id": str(t.id),
        "ticket_kind": "internal",
        "problem_statement": t.problem_statement,
        "customer_name": t.customer_name,
        "customer_contact": t.customer_contact,
        "status": t.status,
        "created_by": str(t.created_by) if t.created_by else None,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


def queue_row(t: L1InternalTicket, session: L1WalkSession | None) -> dict[str, Any]:
    return {
        **ticket_to_dict(t),
        "session_id": str(session.id) if session else None,
        "session_kind": session.session_kind if session else None,
        "session_status": session.status if session else None,
    }
