"""Walking a session: step, notes, resolve, escalate. Callers lock the session row first
(`get_walk(..., for_update=True)`), so concurrent writes to the JSON lists never lose an entry.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from db.base import db_now
from db.models import L1Flow, L1WalkSession
from shared.errors import bad_request, conflict
from shared.l1 import tickets
from shared.l1.flows import TERMINAL
from shared.l1.sessions import ensure_active, now_iso, tree_nodes

MAX_NOTES = 200


def _find_answer(node: dict[str, Any], answer: str) -> dict[str, Any]:
    wanted = answer.strip().lower()
    for option in node.get("answers", []):
        if str(option.get("label", "")).strip().lower() == wanted:
            return dict(option)
    labels = ", ".join(repr(a.get("label")) for a in node.get("answers", []))
    raise bad_request("invalid_answer", f"{answer!r} is not an answer of node {node.get('id')!r} ({labels})", "answer")


def step(
    db: Session,
    s: L1WalkSession,
    flow: L1Flow | None,
    *,
    node_id: str,
    answer: str,
    next_node_id: str | None,
    note: str | None,
    user_id: uuid.UUID,
) -> L1WalkSession:
    """Record the answer to the current node and move on; BadRequest when the step does not fit the tree."""
    ensure_active(s)
    known = tree_nodes(s, flow)
    if node_id not in known:
        raise bad_request("unknown_node", f"node {node_id!r} is not part of this session's flow", "node_id")
    if node_id != s.current_node_id:
        where = repr(s.current_node_id) if s.current_node_id else "no node (generate the next one first)"
        raise bad_request("not_current_node", f"the walk is at {where}, not at {node_id!r}", "node_id")
    node = known[node_id]
    if node.get("type") in TERMINAL:
        raise bad_request("terminal_node", f"node {node_id!r} ends the walk: resolve or escalate", "node_id")
    option = _find_answer(node, answer)
    entry: dict[str, Any] = {"node_id": node_id, "question": node.get("text"), "answer": option["label"], "at": now_iso()}
    if s.session_kind == "ai_build":
        target, leads_to = None, option["leads_to"]
        entry.update(node_type="ai_question", leads_to=leads_to)
    else:
        target = leads_to = str(option["next"])
        entry.update(node_type="question", next_node_id=target)
    if next_node_id is not None and next_node_id != leads_to:
        raise bad_request("answer_target_mismatch",
                          f"answer {option['label']!r} leads to {leads_to!r}, not {next_node_id!r}", "next_node_id")
    if note:
        entry["note"] = note
        _append_note(s, note, node_id, user_id)
    s.walked_path = [*(s.walked_path or []), entry]
    s.current_node_id = target
    s.last_step_at = db_now()
    return _save(db, s)


def _append_note(s: L1WalkSession, text: str, node_id: str | None, user_id: uuid.UUID) -> None:
    if len(s.walk_notes or []) >= MAX_NOTES:
        raise conflict("notes_limit_reached", f"a session keeps at most {MAX_NOTES} notes")
    note = {"id": str(uuid.uuid4()), "text": text, "node_id": node_id, "by": str(user_id), "at": now_iso()}
    s.walk_notes = [*(s.walk_notes or []), note]


def add_note(db: Session, s: L1WalkSession, text: str, user_id: uuid.UUID) -> L1WalkSession:
    ensure_active(s)
    _append_note(s, text, s.current_node_id, user_id)
    s.last_step_at = db_now()
    return _save(db, s)


def resolve(db: Session, s: L1WalkSession, *, helpful: bool | None, notes: str | None) -> L1WalkSession:
    ensure_active(s)
    s.status, s.helpful, s.resolution_notes = "resolved", helpful, notes
    s.resolved_at = s.last_step_at = db_now()
    tickets.set_status(db, s.ticket_id, "resolved")
    return _save(db, s)


def escalate(db: Session, s: L1WalkSession, *, reason: str | None, reason_category: str) -> L1WalkSession:
    ensure_active(s)
    s.status, s.escalation_reason, s.escalation_reason_category = "escalated", reason, reason_category
    s.escalated_at = s.last_step_at = db_now()
    tickets.set_status(db, s.ticket_id, "escalated")
    return _save(db, s)


def _save(db: Session, s: L1WalkSession) -> L1WalkSession:
    db.flush()
    db.refresh(s)
    return s
