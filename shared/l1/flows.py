"""Troubleshooting flows: the tree shape, its validation, and drafts → published.

Tree JSON (what `POST /l1/flows` and `flows import` accept):

    {"title": "Outlook keeps asking for a password", "category": "email",
     "keywords": ["outlook", "password prompt"], "description": "optional",
     "start": "q1",                                   # optional: defaults to the first node
     "nodes": [
       {"id": "q1", "type": "question", "text": "Is the user on the office network?",
        "answers": [{"label": "Yes", "next": "fix"}, {"label": "No", "next": "esc"}]},
       {"id": "fix", "type": "resolve", "text": "Clear cached credentials in Credential Manager."},
       {"id": "esc", "type": "escalate", "text": "Escalate to the messaging team."}]}

Rules: node ids unique; questions have 1-10 answers with distinct labels, each leading (`next`) to an
existing node; resolve / escalate nodes are terminal (no answers); no cycles; at least one terminal.
"""
from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import db_now
from db.models import L1Flow
from shared import limits
from shared.errors import Invalid, conflict
from shared.isotime import iso
from shared.l1 import categories
from shared.l1.categories import CATEGORY_PATTERN
from shared.lookup import fetch
from shared.pagination import next_cursor, page

NODE_ID = r"^[A-Za-z0-9_.-]{1,64}$"
TERMINAL = frozenset({"resolve", "escalate"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class FlowAnswer(_Model):
    label: str = Field(min_length=1, max_length=200)
    next: str = Field(pattern=NODE_ID)


class FlowNode(_Model):
    id: str = Field(pattern=NODE_ID)
    type: Literal["question", "resolve", "escalate"]
    text: str = Field(min_length=1, max_length=4000)
    answers: list[FlowAnswer] = Field(default_factory=list, max_length=10)


class FlowDefinition(_Model):
    title: str = Field(min_length=1, max_length=200)
    category: str = Field(pattern=CATEGORY_PATTERN)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=2000)
    start: str | None = Field(default=None, pattern=NODE_ID)
    nodes: list[FlowNode] = Field(min_length=1, max_length=200)

    @field_validator("category", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [k.strip() for k in value]
        if any(not k or len(k) > 100 for k in cleaned):
            raise ValueError("keywords are 1-100 characters each")
        return list(dict.fromkeys(cleaned))


def tree_errors(defn: FlowDefinition) -> list[dict[str, str]]:
    """Every structural problem at once, each with the field it concerns."""
    errors: list[dict[str, str]] = []
    index: dict[str, int] = {}
    for i, node in enumerate(defn.nodes):
        if node.id in index:
            errors.append({"field": f"nodes.{i}.id", "message": f"duplicate node id {node.id!r}"})
        index.setdefault(node.id, i)
    for i, node in enumerate(defn.nodes):
        if node.type in TERMINAL and node.answers:
            errors.append({"field": f"nodes.{i}.answers", "message": f"a {node.type} node ends the walk: no answers"})
        if node.type == "question" and not node.answers:
            errors.append({"field": f"nodes.{i}.answers", "message": "a question needs at least one answer"})
        seen: set[str] = set()
        for j, answer in enumerate(node.answers):
            if answer.label.strip().lower() in seen:
                errors.append({"field": f"nodes.{i}.answers.{j}.label", "message": f"duplicate answer {answer.label!r}"})
            seen.add(answer.label.strip().lower())
            if answer.next not in index:
                errors.append({"field": f"nodes.{i}.answers.{j}.next",
                               "message": f"leads to {answer.next!r}, which is not a node of this flow"})
    if defn.start is not None and defn.start not in index:
        errors.append({"field": "start", "message": f"start {defn.start!r} is not a node of this flow"})
    if not any(node.type in TERMINAL for node in defn.nodes):
        errors.append({"field": "nodes", "message": "at least one resolve or escalate node is required"})
    errors.extend(_cycle_errors(defn, index))
    return errors


def _cycle_errors(defn: FlowDefinition, index: dict[str, int]) -> list[dict[str, str]]:
    """Iterative depth-first search; each cycle is reported once, at the node where it closes."""
    edges = {n.id: [a.next for a in n.answers if a.next in index] for n in defn.nodes}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    errors = []
    for root in edges:
        if root in state:
            continue
        path: list[str] = [root]
        stack = [iter(edges[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                loop = path[path.index(nxt):] + [nxt]
                errors.append({"field": f"nodes.{index[nxt]}", "message": "cycle: " + " → ".join(loop)})
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges[nxt]))
    return errors


def validate(defn: FlowDefinition) -> dict[str, Any]:
    """The stored tree, or Invalid listing every problem."""
    errors = tree_errors(defn)
    if errors:
        raise Invalid("invalid_flow", "the flow is not a valid decision tree", errors=errors)
    nodes = [n.model_dump() for n in defn.nodes]
    return {"start": defn.start or defn.nodes[0].id, "nodes": nodes}


def create_flow(
    db: Session, account_id: uuid.UUID, defn: FlowDefinition, *, created_by: uuid.UUID | None, publish: bool = False
) -> L1Flow:
    tree = validate(defn)
    limits.lock_tenant(db, account_id, "l1_flows")
    held = db.execute(select(func.count()).select_from(L1Flow).where(L1Flow.account_id == account_id)).scalar_one()
    if held >= limits.MAX_FLOWS:
        raise limits.reached("flow_limit_reached", "L1 flows per tenant (drafts included)", limits.MAX_FLOWS)
    categories.ensure(db, account_id, defn.category)
    flow = L1Flow(
        id=uuid.uuid4(), account_id=account_id, title=defn.title.strip(), description=defn.description,
        category=defn.category, keywords=defn.keywords, tree=tree, status="draft", created_by=created_by,
    )
    db.add(flow)
    db.flush()
    if publish:
        return publish_flow(db, flow)
    db.refresh(flow)
    return flow


def update_flow(db: Session, flow: L1Flow, defn: FlowDefinition) -> L1Flow:
    """Replace a draft's definition. A published flow is what technicians walk: it is never edited in
    place (walks in progress read its tree); import or create a new draft instead."""
    if flow.status == "published":
        raise conflict("flow_published", "a published flow cannot be edited; create a new draft from it")
    flow.tree = validate(defn)
    categories.ensure(db, flow.account_id, defn.category)
    flow.title, flow.description = defn.title.strip(), defn.description
    flow.category, flow.keywords = defn.category, defn.keywords
    flow.updated_at = db_now()
    db.flush()
    db.refresh(flow)
    return flow


def publish_flow(db: Session, flow: L1Flow) -> L1Flow:
    """Draft → published (publishing a published flow changes nothing), within the bound intake scans."""
    if flow.status != "published":
        limits.lock_tenant(db, flow.account_id, "l1_flows")
        published = db.execute(select(func.count()).select_from(L1Flow).where(
            L1Flow.account_id == flow.account_id, L1Flow.status == "published")).scalar_one()
        if published >= limits.MAX_PUBLISHED_FLOWS:
            raise limits.reached("flow_limit_reached", "published L1 flows per tenant", limits.MAX_PUBLISHED_FLOWS)
        flow.status = "published"
        flow.published_at = db_now()
        flow.updated_at = db_now()
        db.flush()
    db.refresh(flow)
    return flow


def get_flow(db: Session, flow_id: uuid.UUID, *, for_update: bool = False) -> L1Flow:
    return fetch(db, L1Flow, flow_id, what="flow", code="flow_not_found", for_update=for_update)


def list_flows(
    db: Session, *, status: str | None, category: str | None, cursor: str | None, limit: int
) -> tuple[list[L1Flow], str | None]:
    stmt = select(L1Flow)
    if status:
        stmt = stmt.where(L1Flow.status == status)
    if category:
        stmt = stmt.where(L1Flow.category == category)
    return next_cursor(list(db.execute(page(stmt, L1Flow, cursor, limit)).scalars()), limit)


def node_map(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(n["id"]): n for n in tree.get("nodes", [])}


def flow_text(tree: dict[str, Any]) -> str:
    """Everything a technician reads while walking: questions, answers, instructions."""
    parts = []
    for node in tree.get("nodes", []):
        parts.append(str(node.get("text", "")))
        parts.extend(str(a.get("label", "")) for a in node.get("answers", []))
    return "\n".join(parts)


def flow_to_dict(f: L1Flow, *, with_tree: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(f.id),
        "title": f.title,
        "description": f.description,
        "category": f.category,
        "keywords": list(f.keywords or []),
        "status": f.status,
        "node_count": len(f.tree.get("nodes", [])),
        "published_at": iso(f.published_at),
        "created_at": iso(f.created_at),
        "updated_at": iso(f.updated_at),
    }
    if with_tree:
        out["start"] = f.tree.get("start")
        out["nodes"] = f.tree.get("nodes", [])
    return out
