"""AI sessions and their facts (engineer, admin, owner)."""
from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import Field, model_validator

from shared import limits
from shared.errors import Invalid
from shared.jobs.serialize import job_to_dict
from shared.sessions import l1_intake, service, status
from web.auth import ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("sessions", __name__, url_prefix="/api/v1/ai-sessions")

MAX_INTAKE_BYTES = 64 * 1024

SessionStatus = Literal["active", "paused", "requesting_escalation", "escalated", "resolved"]


class SessionCreate(Strict):
    intake_type: Literal["free_text", "ticket", "l1_escalation"] = "free_text"
    intake_content: dict[str, Any] = Field(default_factory=dict)
    psa_connection_id: uuid.UUID | None = None
    psa_ticket_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9]+$")
    l1_session_id: uuid.UUID | None = Field(default=None, description="the escalated walk (intake_type l1_escalation)")

    @model_validator(mode="after")
    def _walk_only_for_escalations(self) -> SessionCreate:
        if (self.intake_type == "l1_escalation") != (self.l1_session_id is not None):
            raise ValueError("l1_session_id is required with intake_type l1_escalation, and only with it")
        return self


class SessionList(Strict):
    status: SessionStatus | None = None
    limit: int = Field(default=50, ge=1, le=limits.MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200)
    sort: Literal["created", "activity"] = Field(default="created", description="activity: latest change first")
    mine: bool = Field(default=False, description="only the sessions the caller started")


class SessionJobs(Strict):
    kind: str | None = Field(default=None, max_length=400, pattern=r"^[a-z0-9_.]+(,[a-z0-9_.]+)*$",
                             description="comma-separated job kinds")
    limit: int = Field(default=10, ge=1, le=50)


class FactCreate(Strict):
    text: str = Field(min_length=1, max_length=limits.MAX_FACT_CHARS)


@bp.post("")
@require(*ENGINEER_UP)
@doc("Create an AI session", body=SessionCreate, status=201)
def create() -> Any:
    body = parse_body(SessionCreate)
    if len(json.dumps(body.intake_content)) > MAX_INTAKE_BYTES:
        raise Invalid(
            "validation_failed",
            "intake_content is too large",
            errors=[{"field": "intake_content", "message": f"at most {MAX_INTAKE_BYTES} bytes of JSON"}],
        )
    p = principal()
    if body.l1_session_id is not None:
        taken = l1_intake.start_from_escalation(
            db(), account_id=p.tenant_id, created_by=p.user_id,
            l1_session_id=body.l1_session_id, extra_intake=body.intake_content,
            psa_connection_id=body.psa_connection_id, psa_ticket_id=body.psa_ticket_id,
        )
        return jsonify(service.session_to_dict(taken)), 201
    row = service.create_session(
        db(),
        account_id=p.tenant_id,
        created_by=p.user_id,
        intake_type=body.intake_type,
        intake=body.intake_content,
        psa_connection_id=body.psa_connection_id,
        psa_ticket_id=body.psa_ticket_id,
    )
    return jsonify(service.session_to_dict(row)), 201


@bp.get("")
@require(*ENGINEER_UP)
@doc("List sessions, newest first (cursor pagination)", query=SessionList)
def list_() -> Any:
    q = parse_query(SessionList)
    rows, cursor = service.list_sessions(db(), status=q.status, cursor=q.cursor, limit=q.limit,
                                         by="updated_at" if q.sort == "activity" else "created_at",
                                         created_by=principal().user_id if q.mine else None)
    return jsonify({"items": [service.session_to_dict(r) for r in rows], "next_cursor": cursor})


@bp.get("/<uuid:session_id>")
@require(*ENGINEER_UP)
@doc("Get a session")
def get(session_id: uuid.UUID) -> Any:
    return jsonify(service.session_to_dict(service.get_session(db(), session_id)))


@bp.get("/<uuid:session_id>/facts")
@require(*ENGINEER_UP)
@doc("The session's live facts, oldest first")
def list_facts(session_id: uuid.UUID) -> Any:
    session = service.get_session(db(), session_id)
    return jsonify({"items": [service.fact_to_dict(f) for f in service.live_facts(db(), session.id)]})


@bp.get("/<uuid:session_id>/jobs")
@require(*ENGINEER_UP)
@doc("The session's jobs, newest first (e.g. kind=writeback.resolution_note,writeback.escalation_package)",
     query=SessionJobs)
def list_jobs(session_id: uuid.UUID) -> Any:
    q = parse_query(SessionJobs)
    session = service.get_session(db(), session_id)
    kinds = q.kind.split(",") if q.kind else []
    return jsonify({"items": [job_to_dict(j) for j in service.session_jobs(db(), session.id, kinds, q.limit)]})


@bp.post("/<uuid:session_id>/facts")
@require(*ENGINEER_UP)
@doc("Add a fact (bumps state_version)", body=FactCreate, status=201)
def add_fact(session_id: uuid.UUID) -> Any:
    body = parse_body(FactCreate)
    session = service.get_session(db(), session_id)
    fact, version = service.add_fact(db(), session, body.text, principal().user_id)
    return jsonify({**service.fact_to_dict(fact), "state_version": version}), 201


@bp.delete("/<uuid:session_id>/facts/<uuid:fact_id>")
@require(*ENGINEER_UP)
@doc("Delete a fact (soft; bumps state_version)")
def delete_fact(session_id: uuid.UUID, fact_id: uuid.UUID) -> Any:
    session = service.get_session(db(), session_id)
    version = service.delete_fact(db(), session, fact_id)
    return jsonify({"id": str(fact_id), "deleted": True, "state_version": version})


@bp.post("/<uuid:session_id>/pause")
@require(*ENGINEER_UP)
@doc("Pause an active session (409 session_state_conflict otherwise; bumps state_version)")
def pause(session_id: uuid.UUID) -> Any:
    return jsonify(service.session_to_dict(status.move(db(), session_id, "pause")))


@bp.post("/<uuid:session_id>/resume")
@require(*ENGINEER_UP)
@doc("Resume a paused session (409 session_state_conflict otherwise; bumps state_version)")
def resume(session_id: uuid.UUID) -> Any:
    return jsonify(service.session_to_dict(status.move(db(), session_id, "resume")))


@bp.post("/<uuid:session_id>/request-escalation")
@require(*ENGINEER_UP)
@doc("Ask for an escalation from an active or paused session (409 session_state_conflict otherwise)")
def request_escalation(session_id: uuid.UUID) -> Any:
    return jsonify(service.session_to_dict(status.move(db(), session_id, "request_escalation")))
