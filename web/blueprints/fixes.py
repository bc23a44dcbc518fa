"""Suggested fixes of a session: create, active, decision, outcome (engineer, admin, owner)."""
from __future__ import annotations

import uuid
from typing import Any, Literal, TypeVar

from flask import Blueprint, jsonify
from pydantic import Field

from db.models import AiSession, Job, ScriptTemplate, SessionSuggestedFix
from shared.errors import not_found
from shared.jobs.serialize import job_to_dict
from shared.sessions import fixes
from shared.sessions.service import get_session
from web.auth import ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.submit import submit
from web.validation import Strict, parse_body

M = TypeVar("M", bound=Strict)

bp = Blueprint("fixes", __name__, url_prefix="/api/v1/ai-sessions/<uuid:session_id>/suggested-fixes")

MAX_SCRIPT = 100_000


class FixCreate(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=20_000)
    confidence_pct: int = Field(ge=0, le=100)
    script_template_id: uuid.UUID | None = None
    ai_drafted_script: str | None = Field(default=None, max_length=MAX_SCRIPT)
    ai_drafted_parameters: dict[str, Any] | None = None
    script_language: fixes.ScriptLanguage | None = None


class Decision(Strict):
    decision: Literal["one_off", "draft_template", "build_template", "dismissed"]
    edited_script: str | None = Field(default=None, max_length=MAX_SCRIPT)


class Outcome(Strict):
    outcome: Literal["applied_success", "applied_failed", "applied_partial", "applied_pending", "dismissed"]
    notes: str | None = Field(default=None, max_length=10_000)


def _write(model: type[M], session_id: uuid.UUID, fix_id: uuid.UUID) -> tuple[M, AiSession, SessionSuggestedFix]:
    """The validated body, the session, and its fix locked for the write (a fix of another session is not found)."""
    body = parse_body(model)
    return body, get_session(db(), session_id), fixes.get_fix(db(), session_id, fix_id)


@bp.post("")
@require(*ENGINEER_UP)
@doc("Create a suggested fix (supersedes the active one)", body=FixCreate, status=201)
def create(session_id: uuid.UUID) -> Any:
    body = parse_body(FixCreate)
    session = get_session(db(), session_id)
    if body.script_template_id is not None:
        if db().get(ScriptTemplate, body.script_template_id) is None:
            raise not_found("script template", "script_template_not_found")
    fix, version = fixes.create_fix(db(), session, body.model_dump())
    return jsonify({**fixes.fix_to_dict(fix), "state_version": version}), 201


@bp.get("/active")
@require(*ENGINEER_UP)
@doc("The active (newest un-superseded) suggested fix")
def active(session_id: uuid.UUID) -> Any:
    get_session(db(), session_id)
    fix = fixes.active_fix(db(), session_id)
    if fix is None:
        raise not_found("active suggested fix", "no_active_fix")
    return jsonify(fixes.fix_to_dict(fix))


@bp.post("/<uuid:fix_id>/decision")
@require(*ENGINEER_UP)
@doc("Record the engineer's decision (draft_template starts a template.extract job)", body=Decision)
def decision(session_id: uuid.UUID, fix_id: uuid.UUID) -> Any:
    body, session, fix = _write(Decision, session_id, fix_id)
    holder: dict[str, fixes.DecisionResult] = {}

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        result = fixes.record_decision(
            db(), session, fix, body.decision, body.edited_script,
            user_id=principal().user_id, idempotency_key=key, fingerprint=fingerprint,
        )
        holder["result"] = result
        assert result.job is not None
        return result.job, result.job_created

    if body.decision == "draft_template":
        job = submit(make)
        result = holder.get("result")
        if result is None:  # an Idempotency-Key replay: report the recorded decision
            result = fixes.DecisionResult(fix=fix, state_version=session.state_version, job=job)
            result.rendered_script = (fix.edited_script or fix.ai_drafted_script or "").strip() or None
    else:
        result = fixes.record_decision(db(), session, fix, body.decision, body.edited_script, user_id=principal().user_id)
    status = 202 if result.job is not None else 200
    return jsonify(
        {
            "id": str(result.fix.id),
            "user_decision": result.fix.user_decision,
            "rendered_script": result.rendered_script,
            "redirect_path": result.redirect_path,
            "draft_template_id": None,
            "state_version": result.state_version,
            "job": job_to_dict(result.job) if result.job is not None else None,
        }
    ), status


@bp.patch("/<uuid:fix_id>/outcome")
@require(*ENGINEER_UP)
@doc("Record the fix's outcome", body=Outcome)
def outcome(session_id: uuid.UUID, fix_id: uuid.UUID) -> Any:
    body, session, fix = _write(Outcome, session_id, fix_id)
    fix, version = fixes.record_outcome(db(), session, fix, body.outcome, body.notes)
    return jsonify({**fixes.fix_to_dict(fix), "state_version": version})
