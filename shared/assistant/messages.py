"""The engineer's messages and the transcript. Posting a message starts the one reply job of the session."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AiSession, Job, SessionMessage
from shared.errors import conflict, invalid
from shared.jobs.service import create_job
from shared.rows import pick

REPLY_KIND = "assistant.reply"
MAX_CONTENT = 8000  # characters of one engineer message


def reply_dedupe_key(session_id: uuid.UUID) -> str:
    return f"{REPLY_KIND}:{session_id}"


def post_message(
    db: Session,
    session: AiSession,
    content: str,
    *,
    user_id: uuid.UUID,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> tuple[SessionMessage, Job]:
    """Store the message and create its reply job. Call with the session row locked (orders the transcript).

    Conflict `session_closed` on a resolved session; `reply_in_flight` (naming the job) while a reply is
    being written: the engineer reads it first, and the transcript never forks into parallel replies.
    """
    if session.status == "resolved":
        raise conflict("session_closed", "this session is resolved; the conversation is closed",
                       session_status=session.status)
    message = SessionMessage(id=uuid.uuid4(), account_id=session.account_id, session_id=session.id, role="user",
                             content=content, created_by=user_id, fact_ids=[])
    db.add(message)
    db.flush()
    job, created = create_job(
        db,
        account_id=session.account_id,
        kind=REPLY_KIND,
        payload={"message_id": str(message.id)},
        created_by=user_id,
        session_id=session.id,
        dedupe_key=reply_dedupe_key(session.id),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if not created:
        raise conflict("reply_in_flight", f"the assistant is still answering (job {job.id}); wait for it first",
                       job_id=str(job.id))
    message.job_id = job.id
    db.flush()
    db.refresh(message)
    return message, job


def message_for_job(db: Session, job_id: uuid.UUID) -> SessionMessage | None:
    """The engineer's message that started this reply job (an Idempotency-Key replay answers with it)."""
    return db.execute(
        select(SessionMessage).where(SessionMessage.job_id == job_id, SessionMessage.role == "user")
    ).scalar_one_or_none()


def list_messages(
    db: Session, session_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> tuple[list[SessionMessage], str | None]:
    """Oldest first; `after` is the id of the last message the client has. next_cursor: pass it as `after`."""
    stmt = select(SessionMessage).where(SessionMessage.session_id == session_id)
    if after is not None:
        seq = db.execute(
            select(SessionMessage.seq).where(SessionMessage.id == after, SessionMessage.session_id == session_id)
        ).scalar_one_or_none()
        if seq is None:
            raise invalid("after does not name a message of this session", "after", code="invalid_cursor")
        stmt = stmt.where(SessionMessage.seq > seq)
    rows = list(db.execute(stmt.order_by(SessionMessage.seq).limit(limit + 1)).scalars())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], str(rows[limit - 1].id)


def message_to_dict(m: SessionMessage) -> dict[str, Any]:
    return {**pick(m, "id", "session_id", "role", "content", "created_at", "job_id", "suggested_fix_id"),
            "fact_ids": list(m.fact_ids or []), **pick(m, "outcome_proposal", "generator")}
