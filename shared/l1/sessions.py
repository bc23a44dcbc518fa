"""L1 walk sessions: start, read, list, and their public shape.

Sessions are account-scoped, not creator-scoped (the seed's policy): any L1 or covering engineer of
the account may act on any session; row-level security hides other tenants' sessions (NotFound).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from db.models import L1Flow, L1InternalTicket, L1WalkSession
from shared.errors import conflict
from shared.isotime import iso
from shared.l1.flows import node_map
from shared.l1.tickets import ticket_to_dict
from shared.lookup import fetch
from shared.pagination import decode_cursor, encode_cursor

META = "meta"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def start_flow_session(
    db: Session, *, account_id: uuid.UUID, user_id: uuid.UUID, flow: L1Flow, ticket: L1InternalTicket
) -> L1WalkSession:
    return _add(db, L1WalkSession(
        id=uuid.uuid4(), account_id=account_id, created_by=user_id, session_kind="flow", flow_id=flow.id,
        current_node_id=str(flow.tree.get("start")), walked_path=[], walk_notes=[], status="active",
        ticket_id=ticket.id, ticket_kind="internal",
    ))


def start_ai_build_session(
    db: Session, *, account_id: uuid.UUID, user_id: uuid.UUID, category: str, ticket: L1InternalTicket
) -> L1WalkSession:
    """The classified category rides in a hidden meta entry of walked_path (read back by next-node)."""
    return _add(db, L1WalkSession(
        id=uuid.uuid4(), account_id=account_id, created_by=user_id, session_kind="ai_build",
        flow_proposal={"nodes": []}, current_node_id=None,
        walked_path=[{"node_type": META, "category": category}], walk_notes=[], status="active",
        ticket_id=ticket.id, ticket_kind="internal",
    ))


def start_escalated(
    db: Session, *, account_id: uuid.UUID, user_id: uuid.UUID, ticket: L1InternalTicket,
    reason: str | None, reason_category: str,
) -> L1WalkSession:
    """escalate-without-walk: the session is born escalated, with nothing walked."""
    return _add(db, L1WalkSession(
        id=uuid.uuid4(), account_id=account_id, created_by=user_id, session_kind="escalate_without_walk",
        walked_path=[], walk_notes=[], status="escalated", escalation_reason=reason,
        escalation_reason_category=reason_category, escalated_at=func.now(), last_step_at=func.now(),
        ticket_id=ticket.id, ticket_kind="internal",
    ))


def _add(db: Session, row: L1WalkSession) -> L1WalkSession:
    db.add(row)
    db.flush()
    db.refresh(row)
    return row


def get_walk(db: Session, session_id: uuid.UUID, *, for_update: bool = False) -> L1WalkSession:
    return fetch(db, L1WalkSession, session_id, what="session", code="session_not_found", for_update=for_update)


def ensure_active(s: L1WalkSession) -> None:
    if s.status != "active":
        raise conflict("session_finished", f"this session is {s.status}; it takes no further steps",
                       session_status=s.status)


def visible_path(s: L1WalkSession) -> list[dict[str, Any]]:
    return [e for e in s.walked_path or [] if e.get("node_type") != META]


def category_of(s: L1WalkSession) -> str | None:
    meta = next((e for e in s.walked_path or [] if e.get("node_type") == META), None)
    return str(meta.get("category")) if meta else None


def tree_nodes(s: L1WalkSession, flow: L1Flow | None) -> dict[str, dict[str, Any]]:
    """The nodes the session walks: its AI-built proposal, or its flow's tree (none once the flow is gone)."""
    if s.session_kind == "ai_build":
        return node_map(s.flow_proposal or {})
    return node_map(flow.tree) if flow is not None else {}


def current_node(s: L1WalkSession, flow: L1Flow | None) -> dict[str, Any] | None:
    if s.current_node_id is None:
        return None
    return tree_nodes(s, flow).get(s.current_node_id)


def next_action(s: L1WalkSession, node: dict[str, Any] | None) -> str:
    """What the technician does next: answer | resolve | escalate | generate | none."""
    if s.status != "active":
        return "none"
    if node is not None:
        return {"resolve": "resolve", "escalate": "escalate"}.get(str(node.get("type")), "answer")
    if s.session_kind == "ai_build":
        path = visible_path(s)
        last = str(path[-1].get("leads_to")) if path else "next"
        return last if last in ("resolve", "escalate") else "generate"
    return "escalate"  # a flow session whose flow is gone


def session_to_dict(
    s: L1WalkSession, flow: L1Flow | None = None, ticket: L1InternalTicket | None = None
) -> dict[str, Any]:
    node = current_node(s, flow)
    return {
        "id": str(s.id),
        "session_kind": s.session_kind,
        "status": s.status,
        "flow_id": str(s.flow_id) if s.flow_id else None,
        "flow_title": flow.title if flow is not None else None,
        "flow_proposal": s.flow_proposal,
        "category": category_of(s) or (flow.category if flow is not None else None),
        "current_node_id": s.current_node_id,
        "current_node": node,
        "next_action": next_action(s, node),
        "walked_path": visible_path(s),
        "walk_notes": list(s.walk_notes or []),
        "helpful": s.helpful,
        "resolution_notes": s.resolution_notes,
        "escalation_reason": s.escalation_reason,
        "escalation_reason_category": s.escalation_reason_category,
        "ticket_id": str(s.ticket_id) if s.ticket_id else None,
        "ticket_kind": s.ticket_kind,
        "ticket": ticket_to_dict(ticket) if ticket is not None else None,
        "created_by": str(s.created_by) if s.created_by else None,
        "started_at": iso(s.started_at),
        "last_step_at": iso(s.last_step_at),
        "resolved_at": iso(s.resolved_at),
        "escalated_at": iso(s.escalated_at),
    }


def hydrate(db: Session, rows: list[L1WalkSession]) -> list[dict[str, Any]]:
    """Serialize sessions with their flow and ticket, loaded in two queries."""
    flow_ids = {s.flow_id for s in rows if s.flow_id}
    ticket_ids = {s.ticket_id for s in rows if s.ticket_id}
    flows = {f.id: f for f in db.execute(select(L1Flow).where(L1Flow.id.in_(flow_ids))).scalars()} if flow_ids else {}
    tickets = (
        {t.id: t for t in db.execute(select(L1InternalTicket).where(L1InternalTicket.id.in_(ticket_ids))).scalars()}
        if ticket_ids else {}
    )
    return [
        session_to_dict(s, flows.get(s.flow_id) if s.flow_id else None, tickets.get(s.ticket_id) if s.ticket_id else None)
        for s in rows
    ]


def list_active(db: Session, user_id: uuid.UUID, limit: int) -> list[L1WalkSession]:
    """The caller's own active sessions, most recently touched (last step or note, else start) first."""
    touched = func.coalesce(L1WalkSession.last_step_at, L1WalkSession.started_at)
    return list(db.execute(
        select(L1WalkSession)
        .where(L1WalkSession.created_by == user_id, L1WalkSession.status == "active")
        .order_by(touched.desc(), L1WalkSession.id.desc())
        .limit(limit)
    ).scalars())


def list_escalated(db: Session, cursor: str | None, limit: int) -> tuple[list[L1WalkSession], str | None]:
    """Escalated sessions, most recently escalated first (keyset on escalated_at, id)."""
    stmt = select(L1WalkSession).where(L1WalkSession.status == "escalated")
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(L1WalkSession.escalated_at, L1WalkSession.id) < tuple_(at, row_id))
    stmt = stmt.order_by(L1WalkSession.escalated_at.desc(), L1WalkSession.id.desc()).limit(limit + 1)
    rows = list(db.execute(stmt).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    assert last.escalated_at is not None
    return rows, encode_cursor(last.escalated_at, last.id)
