"""Session status moves the engineer makes by hand: pause, resume, request an escalation.

Allowed moves (from the seeds): active ↔ paused; active or paused → requesting_escalation. Anything
else is 409 `session_state_conflict`. Each move bumps state_version (the status is part of what a
preview is written from). Resolving and escalating happen through the writeback jobs only.
"""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from db.models import AiSession
from shared.errors import Conflict
from shared.sessions.service import bump_state_version, get_session

MOVES: dict[str, tuple[frozenset[str], str]] = {
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "request_escalation": (frozenset({"active", "paused"}), "requesting_escalation"),
}


def move(db: Session, session_id: uuid.UUID, action: str) -> AiSession:
    allowed, target = MOVES[action]
    session = get_session(db, session_id, for_update=True)
    if session.status not in allowed:
        raise Conflict(
            "session_state_conflict",
            f"session is {session.status}; {action.replace('_', ' ')} needs {' or '.join(sorted(allowed))}",
            extra={"session_status": session.status},
        )
    session.status = target
    db.flush()
    bump_state_version(db, session.id)
    db.refresh(session)
    return session
