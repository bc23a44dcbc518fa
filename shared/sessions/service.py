"""AI sessions and their facts. Every write that changes what a preview would say bumps state_version."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import AiSession, Job, PsaConnection, SessionFact
from shared import limits
from shared.errors import Conflict, Invalid, NotFound, not_found
from shared.lookup import fetch
from shared.pagination import next_cursor, page
from shared.rows import pick


def bump_state_version(db: Session, session_id: uuid.UUID) -> int:
    """Atomic increment in SQL (row lock), so concurrent writers never lose a bump."""
    version = db.execute(
        update(AiSession)
        .where(AiSession.id == session_id)
        .values(state_version=AiSession.state_version + 1, updated_at=func.now())
        .returning(AiSession.state_version)
    ).scalar_one_or_none()
    if version is None:
        raise not_found("session", "session_not_found")
    return int(version)


def get_session(db: Session, session_id: uuid.UUID, *, for_update: bool = False) -> AiSession:
    return fetch(db, AiSession, session_id, what="session", code="session_not_found", for_update=for_update)


def create_session(
    db: Session,
    *,
    account_id: uuid.UUID,
    created_by: uuid.UUID,
    intake_type: str,
    intake: dict[str, Any],
    psa_connection_id: uuid.UUID | None,
    psa_ticket_id: str | None,
    l1_session_id: uuid.UUID | None = None,
) -> AiSession:
    if psa_connection_id is not None:
        connection = db.get(PsaConnection, psa_connection_id)
        if connection is None:
            raise NotFound("psa_connection_not_found", "psa_connection_id does not name a connection of yours")
        if not connection.is_active:
            raise Conflict("psa_connection_inactive", "that PSA connection is deactivated")
    if psa_ticket_id is not None and psa_connection_id is None:
        raise Invalid(
            "validation_failed",
            "psa_ticket_id needs a psa_connection_id",
            errors=[{"field": "psa_connection_id", "message": "required with psa_ticket_id"}],
        )
    row = AiSession(
        id=uuid.uuid4(),
        account_id=account_id,
        created_by=created_by,
        status="active",
        state_version=1,
        intake_type=intake_type,
        intake=intake,
        psa_connection_id=psa_connection_id,
        psa_ticket_id=psa_ticket_id,
        l1_session_id=l1_session_id,
    )
    db.add(row)
    db.flush()
    db.refresh(row)
    return row


def list_sessions(
    db: Session, *, status: str | None, cursor: str | None, limit: int, by: str = "created_at",
    created_by: uuid.UUID | None = None,
) -> tuple[list[AiSession], str | None]:
    """Newest first by creation, or by latest activity with `by="updated_at"`; optionally one person's."""
    stmt = select(AiSession)
    if status:
        stmt = stmt.where(AiSession.status == status)
    if created_by is not None:
        stmt = stmt.where(AiSession.created_by == created_by)
    rows = list(db.execute(page(stmt, AiSession, cursor, limit, by)).scalars())
    return next_cursor(rows, limit, by)


def session_jobs(db: Session, session_id: uuid.UUID, kinds: list[str], limit: int) -> list[Job]:
    """The session's jobs, newest first (optionally of these kinds): what a page resumes watching."""
    stmt = select(Job).where(Job.session_id == session_id)
    if kinds:
        stmt = stmt.where(Job.kind.in_(kinds))
    return list(db.execute(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)).scalars())


def insert_fact(
    db: Session, session: AiSession, text: str, *, created_by: uuid.UUID | None, source: str = "engineer"
) -> SessionFact:
    """Insert without bumping, within the session's bound (deleted facts count: they stay in its history).

    For callers that write several effects under one bump (the assistant); the caller holds the session row
    lock, so concurrent inserts count in turn.
    """
    held = db.execute(select(func.count()).select_from(SessionFact).where(SessionFact.session_id == session.id)).scalar_one()
    if held >= limits.MAX_FACTS_PER_SESSION:
        raise limits.reached("fact_limit_reached", "facts per session (deleted ones included)",
                             limits.MAX_FACTS_PER_SESSION)
    fact = SessionFact(
        id=uuid.uuid4(), account_id=session.account_id, session_id=session.id, text=text, source=source,
        created_by=created_by,
    )
    db.add(fact)
    db.flush()
    db.refresh(fact)
    return fact


def add_fact(db: Session, session: AiSession, text: str, created_by: uuid.UUID) -> tuple[SessionFact, int]:
    version = bump_state_version(db, session.id)  # locks the session row first: concurrent adds count in turn
    return insert_fact(db, session, text, created_by=created_by), version


def delete_fact(db: Session, session: AiSession, fact_id: uuid.UUID) -> int:
    """Soft delete (previews skip it; history keeps it). Deleting twice is NotFound."""
    deleted = db.execute(
        update(SessionFact)
        .where(SessionFact.id == fact_id, SessionFact.session_id == session.id, SessionFact.deleted_at.is_(None))
        .values(deleted_at=func.now())
        .returning(SessionFact.id)
    ).scalar_one_or_none()
    if deleted is None:
        raise not_found("fact", "fact_not_found")
    return bump_state_version(db, session.id)


def live_facts(db: Session, session_id: uuid.UUID) -> list[SessionFact]:
    return list(
        db.execute(
            select(SessionFact)
            .where(SessionFact.session_id == session_id, SessionFact.deleted_at.is_(None))
            .order_by(SessionFact.created_at, SessionFact.id)
        ).scalars()
    )


def session_to_dict(s: AiSession) -> dict[str, Any]:
    return {
        **pick(s, "id", "status", "state_version", "intake_type"),
        "intake_content": s.intake,
        **pick(s, "psa_connection_id", "psa_ticket_id",
               "resolution_note_markdown", "resolution_note_posted_at", "resolution_note_external_id",
               "escalation_package_markdown", "escalation_package_posted_at", "escalation_package_external_id",
               "resolution_summary", "escalation_reason", "resolved_at", "l1_session_id", "created_at", "updated_at"),
    }


def fact_to_dict(f: SessionFact) -> dict[str, Any]:
    return pick(f, "id", "session_id", "text", "source", "created_at", "deleted_at")
