"""The one consistent read a reply is written from (call inside a REPEATABLE READ transaction)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import L1WalkSession, SessionMessage, SessionSuggestedFix
from shared.errors import PermanentError
from shared.l1.sessions import visible_path
from shared.llm.bundle import SessionBasis
from shared.llm.conversation import ActiveFix, Conversation, Turn
from shared.sessions.fixes import active_fix
from shared.sessions.service import get_session

MAX_TRANSCRIPT = 200  # most recent messages read; the LLM prompt windows further


def load_conversation(db: Session, session_id: uuid.UUID, message_id: uuid.UUID) -> Conversation:
    """Intake, the transcript up to the message being answered, live facts, the active fix, the L1 walk."""
    session = get_session(db, session_id)  # NotFound (deleted since the job was created) fails the job
    upto = db.execute(
        select(SessionMessage.seq).where(SessionMessage.id == message_id, SessionMessage.session_id == session_id)
    ).scalar_one_or_none()
    if upto is None:
        raise PermanentError("message_not_found", "the message this reply answers no longer exists")
    rows = db.execute(
        select(SessionMessage.role, SessionMessage.content)
        .where(SessionMessage.session_id == session_id, SessionMessage.seq <= upto)
        .order_by(SessionMessage.seq.desc())
        .limit(MAX_TRANSCRIPT)
    ).all()
    tried = db.execute(
        select(SessionSuggestedFix.title, SessionSuggestedFix.status)
        .where(SessionSuggestedFix.session_id == session_id)
        .order_by(SessionSuggestedFix.created_at, SessionSuggestedFix.id)
    ).all()
    fix = active_fix(db, session_id)
    return Conversation(
        **SessionBasis.read(db, session),
        transcript=[Turn(r.role, r.content) for r in reversed(rows)],
        fix=ActiveFix.of(fix) if fix is not None else None,
        tried=[{"title": t.title, "status": t.status} for t in tried],
        l1_walk=_walk(db, session.l1_session_id, session.intake),
    )


def _walk(db: Session, walk_id: uuid.UUID | None, intake: dict[str, Any]) -> dict[str, Any] | None:
    """The escalated walk as it is now; the copy taken into the intake if the walk is gone."""
    copied = intake.get("l1_walk") if isinstance(intake.get("l1_walk"), dict) else None
    walk = db.get(L1WalkSession, walk_id) if walk_id is not None else None
    if walk is None:
        return copied
    return {**(copied or {}), "path": visible_path(walk), "notes": list(walk.walk_notes or []),
            "escalation_reason": walk.escalation_reason}
