"""AI build: `l1.next_node` jobs propose the next question of an ai_build walk.

The request makes the job (one per session and depth: concurrent requests share it); the worker reads
the walk, asks the generator outside any transaction, then stores the node as the session's current
node in the same transaction that completes the job. The technician's answer (`step`) appends it to
the walked path; an answer leading to `next` asks for another node.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from db.models import Job, L1InternalTicket, L1WalkSession
from shared.errors import bad_request, conflict
from shared.jobs.service import create_job
from shared.l1.sessions import category_of, ensure_active, get_walk, visible_path
from shared.llm.next_node import NextNodeContext

KIND = "l1.next_node"
MAX_AI_NODES = 25


def ai_node_count(s: L1WalkSession) -> int:
    return len((s.flow_proposal or {}).get("nodes", []))


def request_next_node(
    db: Session,
    s: L1WalkSession,
    *,
    user_id: uuid.UUID,
    observation: str | None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> tuple[Job, bool]:
    ensure_active(s)
    if s.session_kind != "ai_build":
        raise bad_request("not_ai_build", "only ai_build sessions get generated nodes; step through the flow")
    if s.current_node_id is not None:
        raise conflict("node_pending", f"node {s.current_node_id!r} is waiting for an answer", node_id=s.current_node_id)
    path = visible_path(s)
    if path and path[-1].get("leads_to") in ("resolve", "escalate"):
        raise conflict("walk_concluded", f"the last answer leads to {path[-1]['leads_to']}; finish the session")
    count = ai_node_count(s)
    if count >= MAX_AI_NODES:
        raise conflict("ai_walk_too_long", f"an AI-built walk stops at {MAX_AI_NODES} questions: resolve or escalate")
    return create_job(
        db,
        account_id=s.account_id,
        kind=KIND,
        payload={"l1_session_id": str(s.id), "ai_nodes": count, "observation": observation},
        created_by=user_id,
        dedupe_key=f"{KIND}:{s.id}:{count}",
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def load_context(db: Session, session_id: uuid.UUID, observation: str | None) -> NextNodeContext | None:
    """What the generator sees, or None when the session is no longer active."""
    s = get_walk(db, session_id)  # NotFound fails the job (the runner maps domain errors)
    if s.status != "active":
        return None
    ticket = db.get(L1InternalTicket, s.ticket_id) if s.ticket_id else None
    return NextNodeContext(
        problem=ticket.problem_statement if ticket else "",
        category=category_of(s) or "general",
        path=[{"question": str(e.get("question")), "answer": str(e.get("answer"))} for e in visible_path(s)],
        notes=[str(n.get("text")) for n in s.walk_notes or []][-20:],
        observation=observation,
    )


def apply_node(
    db: Session, session_id: uuid.UUID, expected_count: int, proposal: dict[str, Any], generator: str
) -> tuple[dict[str, Any], bool, str | None]:
    """Store the node as the current one unless the walk moved on meanwhile: (node, applied, reason)."""
    s = get_walk(db, session_id, for_update=True)
    node = {
        "id": f"ai-{expected_count + 1}",
        "type": "question",
        "text": proposal["question"],
        "answers": proposal["answers"],
        "generator": generator,
    }
    if s.status != "active":
        return node, False, "session_finished"
    if s.current_node_id is not None or ai_node_count(s) != expected_count:
        return node, False, "walk_moved_on"
    s.flow_proposal = {**(s.flow_proposal or {}), "nodes": [*(s.flow_proposal or {}).get("nodes", []), node]}
    s.current_node_id = node["id"]
    db.flush()
    return node, True, None
