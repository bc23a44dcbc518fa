"""L1 workspace: intake (match-or-build), guided walks, AI-built next nodes, queues (l1 and covering engineers)."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from flask import Blueprint, jsonify
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select

from db.models import Job, L1Flow, L1InternalTicket, L1WalkSession, User
from shared import limits
from shared.isotime import iso
from shared.l1 import ai_build, sessions, tickets, walk
from shared.l1.intake import IntakeRequest, run_intake
from shared.l1.matching import Thresholds
from shared.sessions.l1_intake import taken_by
from web.auth import ENGINEER_UP, L1_UP, principal, require
from web.db import db
from web.openapi import doc
from web.state import state
from web.submit import accepted, submit
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("l1", __name__, url_prefix="/api/v1/l1")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ReasonCategory = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Intake(Strict):
    problem_statement: Text
    customer_name: str | None = Field(default=None, max_length=200)
    customer_contact: str | None = Field(default=None, max_length=320)
    force_build: bool = False
    flow_id: uuid.UUID | None = Field(default=None, description="walk this published flow (e.g. a suggest's "
                                      "near_miss) instead of matching; outcome matched, reason chosen")

    @model_validator(mode="after")
    def _one_way(self) -> Intake:
        if self.force_build and self.flow_id is not None:
            raise ValueError("force_build and flow_id exclude each other")
        return self


class Step(Strict):
    node_id: str = Field(min_length=1, max_length=64)
    answer: str = Field(min_length=1, max_length=200)
    next_node_id: str | None = Field(default=None, max_length=64, description="optional: where the answer leads")
    note: ShortText | None = None


class Note(Strict):
    text: Text


class Resolve(Strict):
    helpful: bool | None = None
    resolution_notes: Text | None = None


class Escalate(Strict):
    reason: ShortText | None = None
    reason_category: ReasonCategory = "other"


class EscalateWithoutWalk(Escalate):
    problem_statement: Text
    customer_name: str | None = Field(default=None, max_length=200)
    customer_contact: str | None = Field(default=None, max_length=320)


class NextNode(Strict):
    observation: ShortText | None = None


class QueueQuery(Strict):
    status: Literal["open", "in_progress", "resolved", "escalated"] | None = None
    limit: int = Field(default=50, ge=1, le=limits.MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200)


class ActiveQuery(Strict):
    limit: int = Field(default=20, ge=1, le=50)


class EscalationsQuery(Strict):
    limit: int = Field(default=50, ge=1, le=limits.MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200)


def _thresholds() -> Thresholds:
    s = state().settings
    return Thresholds(s.flowpilot_l1_match_threshold, s.flowpilot_l1_suggest_threshold,
                      s.flowpilot_l1_category_threshold)


def _flow(s: L1WalkSession) -> L1Flow | None:
    return db().get(L1Flow, s.flow_id) if s.flow_id else None


def _full(s: L1WalkSession, flow: L1Flow | None = None) -> dict[str, Any]:
    """One session with its ticket and flow (pass the flow when the request has loaded it already)."""
    ticket = db().get(L1InternalTicket, s.ticket_id) if s.ticket_id else None
    return sessions.session_to_dict(s, flow or _flow(s), ticket)


def _locked(session_id: uuid.UUID) -> L1WalkSession:
    return sessions.get_walk(db(), session_id, for_update=True)


@bp.post("/intake")
@require(*L1_UP)
@doc("Intake: matched / build (201, ticket + session) or suggest / out_of_scope (200, nothing created)",
     body=Intake, status=201)
def intake() -> Any:
    body = parse_body(Intake)
    p = principal()
    req = IntakeRequest(body.problem_statement, body.customer_name, body.customer_contact, body.force_build,
                        body.flow_id)
    result, created = run_intake(db(), req, account_id=p.tenant_id, user_id=p.user_id,
                                 thresholds=_thresholds())
    return jsonify(result), 201 if created else 200


@bp.get("/queue")
@require(*L1_UP)
@doc("Internal tickets, newest first, with their latest session", query=QueueQuery)
def queue() -> Any:
    q = parse_query(QueueQuery)
    rows, cursor = tickets.list_queue(db(), status=q.status, cursor=q.cursor, limit=q.limit)
    return jsonify({"items": rows, "next_cursor": cursor})


@bp.get("/sessions/active")
@require(*L1_UP)
@doc("The caller's active sessions, newest first", query=ActiveQuery)
def active_sessions() -> Any:
    q = parse_query(ActiveQuery)
    return jsonify({"items": sessions.hydrate(db(), sessions.list_active(db(), principal().user_id, q.limit))})


@bp.get("/sessions/<uuid:session_id>")
@require(*L1_UP)
@doc("Get a walk session (current node, walked path, notes)")
def get_session(session_id: uuid.UUID) -> Any:
    return jsonify(_full(sessions.get_walk(db(), session_id)))


@bp.post("/sessions/<uuid:session_id>/step")
@require(*L1_UP)
@doc("Answer the current node (400 if the node or answer does not fit the flow; 409 once finished)", body=Step)
def step(session_id: uuid.UUID) -> Any:
    body = parse_body(Step)
    s = _locked(session_id)
    flow = _flow(s)
    s = walk.step(db(), s, flow, node_id=body.node_id, answer=body.answer, next_node_id=body.next_node_id,
                  note=body.note, user_id=principal().user_id)
    return jsonify(_full(s, flow))


@bp.post("/sessions/<uuid:session_id>/notes")
@require(*L1_UP)
@doc("Add a walk note", body=Note)
def notes(session_id: uuid.UUID) -> Any:
    body = parse_body(Note)
    return jsonify(_full(walk.add_note(db(), _locked(session_id), body.text, principal().user_id)))


@bp.post("/sessions/<uuid:session_id>/resolve")
@require(*L1_UP)
@doc("Resolve the session (and its ticket)", body=Resolve)
def resolve(session_id: uuid.UUID) -> Any:
    body = parse_body(Resolve)
    return jsonify(_full(walk.resolve(db(), _locked(session_id), helpful=body.helpful, notes=body.resolution_notes)))


@bp.post("/sessions/<uuid:session_id>/escalate")
@require(*L1_UP)
@doc("Escalate the session to the engineers' queue", body=Escalate)
def escalate(session_id: uuid.UUID) -> Any:
    body = parse_body(Escalate)
    s = walk.escalate(db(), _locked(session_id), reason=body.reason, reason_category=body.reason_category)
    return jsonify(_full(s))


@bp.post("/sessions/<uuid:session_id>/next-node")
@require(*L1_UP)
@doc("AI build: queue an l1.next_node job; its result is the next question, the session's current node",
     body=NextNode, status=202)
def next_node(session_id: uuid.UUID) -> Any:
    body = parse_body(NextNode)
    s = _locked(session_id)

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        return ai_build.request_next_node(db(), s, user_id=principal().user_id, observation=body.observation,
                                          idempotency_key=key, fingerprint=fingerprint)

    return accepted(submit(make))


@bp.post("/escalate-without-walk")
@require(*L1_UP)
@doc("Open a ticket and escalate it at once (no walk)", body=EscalateWithoutWalk, status=201)
def escalate_without_walk() -> Any:
    body = parse_body(EscalateWithoutWalk)
    p = principal()
    ticket = tickets.create_ticket(db(), account_id=p.tenant_id, created_by=p.user_id,
                                   problem_statement=body.problem_statement, customer_name=body.customer_name,
                                   customer_contact=body.customer_contact, status="escalated")
    s = sessions.start_escalated(db(), account_id=p.tenant_id, user_id=p.user_id, ticket=ticket,
                                 reason=body.reason, reason_category=body.reason_category)
    return jsonify(_full(s)), 201


@bp.get("/escalations")
@require(*ENGINEER_UP)
@doc("Escalated walks, most recent first, with their path, notes and the session that took each", query=EscalationsQuery)
def escalations() -> Any:
    q = parse_query(EscalationsQuery)
    rows, cursor = sessions.list_escalated(db(), q.cursor, q.limit)
    taken = taken_by(db(), [r.id for r in rows])
    takers = {u.id: u.email for u in db().execute(
        select(User).where(User.id.in_({s.created_by for s in taken.values() if s.created_by}))).scalars()}
    items = []
    for row, item in zip(rows, sessions.hydrate(db(), rows), strict=True):
        by = taken.get(row.id)  # the engineer session started from this walk, if one was
        items.append({**item, "taken_by_session_id": str(by.id) if by else None,
                      "taken_at": iso(by.created_at) if by else None,
                      "taken_by_email": takers.get(by.created_by) if by and by.created_by else None})
    return jsonify({"items": items, "next_cursor": cursor})
