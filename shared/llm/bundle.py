"""What a preview is written from: one consistent read of the session, its live facts and active fix."""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.models import AiSession, SessionSuggestedFix
from shared.sessions.fixes import active_fix
from shared.sessions.service import get_session, live_facts


@dataclass(frozen=True)
class FixView:
    title: str
    description: str
    status: str  # proposed | applied_success | applied_failed | applied_partial | applied_pending | dismissed
    user_decision: str | None
    applied_at: datetime | None
    verified_at: datetime | None
    partial_notes: str | None
    pending_reason: str | None
    failure_reason: str | None
    script: str | None  # the engineer's edited script, else the AI draft

    @staticmethod
    def fields_of(fix: SessionSuggestedFix) -> dict[str, Any]:
        return dict(title=fix.title, description=fix.description, status=fix.status, user_decision=fix.user_decision,
                    applied_at=fix.applied_at, verified_at=fix.verified_at, partial_notes=fix.partial_notes,
                    pending_reason=fix.pending_reason, failure_reason=fix.failure_reason,
                    script=fix.edited_script or fix.ai_drafted_script)

    @classmethod
    def of(cls, fix: SessionSuggestedFix) -> FixView:
        return cls(**cls.fields_of(fix))


def problem_of(intake: dict[str, Any]) -> str | None:
    """The problem statement of a session's intake, under whichever key the client used."""
    for key in ("problem", "summary", "description", "text", "title"):
        value = intake.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class SessionBasis:
    """What every generator reads of the session itself (a preview bundle and an assistant conversation)."""

    session_id: uuid.UUID
    state_version: int
    session_status: str
    intake: dict[str, Any]
    psa_ticket_id: str | None

    @staticmethod
    def read(db: Session, session: AiSession) -> dict[str, Any]:
        """The basis fields of `session` plus its live facts, as constructor keywords."""
        return dict(session_id=session.id, state_version=session.state_version, session_status=session.status,
                    intake=dict(session.intake or {}), psa_ticket_id=session.psa_ticket_id,
                    facts=[f.text for f in live_facts(db, session.id)])


@dataclass(frozen=True)
class PreviewBundle(SessionBasis):
    facts: list[str] = field(default_factory=list)
    fix: FixView | None = None

    @property
    def problem(self) -> str:
        return problem_of(self.intake) or "the reported issue"

    def as_prompt_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["session_id"] = str(self.session_id)
        return data


def load_bundle(db: Session, session_id: uuid.UUID) -> PreviewBundle:
    """Call inside a REPEATABLE READ transaction so every row comes from one snapshot."""
    session = get_session(db, session_id)  # NotFound (deleted since the job was created) fails the job
    fix = active_fix(db, session_id)
    return PreviewBundle(**SessionBasis.read(db, session), fix=FixView.of(fix) if fix is not None else None)
