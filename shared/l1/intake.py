"""POST /l1/intake: match-or-build, then (for matched / build) the internal ticket and the session."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from db.models import L1Flow
from shared.errors import not_found
from shared.l1 import sessions, tickets
from shared.l1.flow_index import INDEXES, FlowIndex
from shared.l1.matching import Decision, Thresholds, decide, scored_flow_dict
from shared.l1.scoring import rank


@dataclass(frozen=True)
class IntakeRequest:
    problem_statement: str
    customer_name: str | None = None
    customer_contact: str | None = None
    force_build: bool = False
    flow_id: uuid.UUID | None = None  # the technician took the suggested (or another) published flow


def run_intake(
    db: Session, req: IntakeRequest, *, account_id: uuid.UUID, user_id: uuid.UUID, thresholds: Thresholds
) -> tuple[dict[str, Any], bool]:
    """Returns (response body, created): created when a ticket and a session were made."""
    index = INDEXES.get(db, account_id)
    if req.flow_id is not None:
        decision = chosen(req.problem_statement, req.flow_id, index=index)
    else:
        decision = decide(req.problem_statement, index=index, thresholds=thresholds, force_build=req.force_build)
    body = _explain(decision, thresholds)
    if decision.outcome in ("suggest", "out_of_scope"):
        return body, False
    ticket = tickets.create_ticket(
        db, account_id=account_id, created_by=user_id, problem_statement=req.problem_statement,
        customer_name=req.customer_name, customer_contact=req.customer_contact,
    )
    flow = db.get(L1Flow, decision.flow.id) if decision.outcome == "matched" and decision.flow is not None else None
    if flow is not None:
        session = sessions.start_flow_session(db, account_id=account_id, user_id=user_id, flow=flow, ticket=ticket)
    else:
        assert decision.category is not None
        session = sessions.start_ai_build_session(db, account_id=account_id, user_id=user_id,
                                                  category=decision.category, ticket=ticket)
    body.update(
        session_id=str(session.id),
        session_kind=session.session_kind,
        ticket_id=str(ticket.id),
        ticket_kind="internal",
        flow_id=str(flow.id) if flow else None,
        session=sessions.session_to_dict(session, flow, ticket),
    )
    return body, True


def chosen(problem: str, flow_id: uuid.UUID, *, index: FlowIndex) -> Decision:
    """A walk on the flow the technician picked (after a `suggest`): published, in an enabled category."""
    enabled = {c.name for c in index.categories if c.enabled}
    flow = next((f for f in index.flows if f.id == flow_id and f.category in enabled), None)
    if flow is None:
        raise not_found("published flow in an enabled category", "flow_not_found")
    scored = rank(problem, [flow.doc])
    return Decision("matched", category=flow.category, category_enabled=True, flow=flow,
                    flow_score=scored[0] if scored else None, reason="chosen", candidates=scored[:1])


def _explain(d: Decision, thresholds: Thresholds) -> dict[str, Any]:
    match = scored_flow_dict(d.flow, d.flow_score) if d.flow is not None and d.flow_score is not None else None
    return {
        "outcome": d.outcome,
        "reason": d.reason,
        "category": d.category,
        "category_enabled": d.category_enabled,
        "category_match": d.category_score.explain() if d.category_score is not None else None,
        "match": match,
        "near_miss": match if d.outcome == "suggest" else None,
        "candidates": [{"flow_id": c.key, "title": c.label, **c.explain()} for c in d.candidates],
        "thresholds": thresholds.as_dict(),
        "session_id": None,
        "session_kind": None,
        "ticket_id": None,
        "ticket_kind": None,
        "flow_id": None,
        "session": None,
    }
