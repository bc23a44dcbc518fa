"""Suggested fixes: create (superseding), the engineer's decision, and the fix's outcome.

Each write bumps the session's state_version in the same transaction, so previews never describe
an outcome the engineer has since changed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.base import db_now
from db.models import AiSession, Job, SessionSuggestedFix
from shared.errors import BadRequest, conflict
from shared.jobs.service import create_job
from shared.lookup import fetch
from shared.rows import pick
from shared.sessions.service import bump_state_version

TERMINAL_OUTCOMES = frozenset({"applied_success", "applied_failed", "dismissed"})
NOTES_REQUIRED = frozenset({"applied_partial", "applied_pending"})
# Outcomes the assistant may propose (dismissing is the engineer's call alone).
APPLIED_OUTCOMES = ("applied_success", "applied_failed", "applied_partial", "applied_pending")
# An outcome may still be recorded (or proposed) for a fix in these statuses.
OPEN_STATUSES = frozenset({"proposed", "applied_partial", "applied_pending"})
ScriptLanguage = Literal["powershell", "cmd", "bash", "python"]
SCRIPT_LANGUAGES: tuple[str, ...] = get_args(ScriptLanguage)


def supersede_and_insert(db: Session, session: AiSession, fields: dict[str, Any]) -> SessionSuggestedFix:
    """Supersede the active fix and insert the new one, without bumping (callers bump once).

    The session row lock orders concurrent creates (the API's and the assistant's alike).
    """
    db.execute(select(AiSession.id).where(AiSession.id == session.id).with_for_update())
    db.execute(
        update(SessionSuggestedFix)
        .where(SessionSuggestedFix.session_id == session.id, SessionSuggestedFix.superseded_at.is_(None))
        .values(superseded_at=func.now())
    )
    fix = SessionSuggestedFix(
        id=uuid.uuid4(), session_id=session.id, account_id=session.account_id, status="proposed", **fields
    )
    db.add(fix)
    db.flush()
    db.refresh(fix)
    return fix


def create_fix(db: Session, session: AiSession, fields: dict[str, Any]) -> tuple[SessionSuggestedFix, int]:
    """POST …/suggested-fixes: supersede the active fix, insert the new one, bump state_version."""
    fix = supersede_and_insert(db, session, fields)
    return fix, bump_state_version(db, session.id)


def active_fix(db: Session, session_id: uuid.UUID) -> SessionSuggestedFix | None:
    return db.execute(
        select(SessionSuggestedFix)
        .where(SessionSuggestedFix.session_id == session_id, SessionSuggestedFix.superseded_at.is_(None))
        .order_by(SessionSuggestedFix.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def get_fix(db: Session, session_id: uuid.UUID, fix_id: uuid.UUID) -> SessionSuggestedFix:
    """A fix of this session, locked for the write; a fix of another session is simply not found."""
    return fetch(db, SessionSuggestedFix, fix_id, what="suggested fix", code="fix_not_found", for_update=True,
                 where=(SessionSuggestedFix.session_id == session_id,))


@dataclass
class DecisionResult:
    fix: SessionSuggestedFix
    state_version: int
    rendered_script: str | None = None
    redirect_path: str | None = None
    job: Job | None = None
    job_created: bool = False


def record_decision(
    db: Session,
    session: AiSession,
    fix: SessionSuggestedFix,
    decision: str,
    edited_script: str | None,
    *,
    user_id: uuid.UUID,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> DecisionResult:
    if decision == "dismissed" and fix.superseded_at is not None:
        raise conflict("fix_superseded", "this fix is already superseded by a newer suggestion")
    rendered: str | None = None
    if decision != "dismissed":
        drafted = edited_script if edited_script and edited_script.strip() else fix.ai_drafted_script
        if not drafted or not drafted.strip():
            raise BadRequest(
                "no_drafted_script",
                "this fix has no drafted script; template-matched fixes use /api/v1/scripts/generate",
                errors=[{"field": "edited_script", "message": "required when the fix has no ai_drafted_script"}],
            )
        rendered = drafted.strip()
    fix.user_decision = decision
    if edited_script is not None and edited_script.strip():
        fix.edited_script = edited_script
    if decision == "dismissed" and fix.superseded_at is None:
        fix.superseded_at = db_now()
    db.flush()
    result = DecisionResult(fix=fix, state_version=bump_state_version(db, session.id), rendered_script=rendered)
    if decision == "build_template":
        result.redirect_path = f"/scripts/builder?from_session={session.id}&fix={fix.id}"
    if decision == "draft_template":
        result.job, result.job_created = create_job(
            db,
            account_id=session.account_id,
            kind="template.extract",
            payload={"fix_id": str(fix.id), "script": rendered},
            created_by=user_id,
            session_id=session.id,
            dedupe_key=f"template.extract:{fix.id}",
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
    db.refresh(fix)
    return result


def record_outcome(
    db: Session, session: AiSession, fix: SessionSuggestedFix, outcome: str, notes: str | None
) -> tuple[SessionSuggestedFix, int]:
    """Apply the seed's transition rules; pending is parked (applied, never verified) and may move on."""
    cleaned = (notes or "").strip() or None
    if outcome in NOTES_REQUIRED and cleaned is None:
        raise BadRequest(
            "notes_required",
            f"notes are required when outcome is {outcome}",
            errors=[{"field": "notes", "message": "required for this outcome"}],
        )
    if fix.status in TERMINAL_OUTCOMES:
        raise conflict("fix_outcome_terminal", f"fix is already in terminal status {fix.status!r}")
    now = db_now()
    fix.status = outcome
    fix.ai_outcome_proposal = None  # the engineer decided: the assistant's proposal is answered
    if outcome == "applied_partial":
        fix.partial_notes = cleaned
    elif outcome == "applied_pending":
        fix.pending_reason = cleaned
    elif outcome == "applied_failed":
        fix.failure_reason = cleaned
        fix.verified_at = now
    elif outcome == "applied_success":
        fix.verified_at = now
    if fix.applied_at is None and outcome != "dismissed":
        fix.applied_at = now
    db.flush()
    version = bump_state_version(db, session.id)
    db.refresh(fix)
    return fix, version


def fix_to_dict(f: SessionSuggestedFix) -> dict[str, Any]:
    return pick(f, "id", "session_id", "title", "description", "confidence_pct", "script_template_id",
                "ai_drafted_script", "ai_drafted_parameters", "script_language", "edited_script", "user_decision",
                "status", "applied_at", "verified_at", "partial_notes", "pending_reason", "failure_reason",
                "ai_outcome_proposal", "superseded_at", "created_at")
