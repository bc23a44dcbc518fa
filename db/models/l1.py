"""L1 workspace: categories, published troubleshooting flows, internal tickets and walk sessions."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantRow, Timestamps, created_at

FLOW_STATUSES = ("draft", "published")
TICKET_STATUSES = ("open", "in_progress", "resolved", "escalated")
WALK_KINDS = ("flow", "ai_build", "escalate_without_walk")
WALK_STATUSES = ("active", "resolved", "escalated")


class L1Category(TenantRow, Timestamps, Base):
    """A problem category; intake only walks or builds flows for enabled ones."""

    __tablename__ = "l1_categories"
    __table_args__ = (Index("uq_l1_categories_account_name", "account_id", "name", unique=True),)
    name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    keywords: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    description: Mapped[str | None] = mapped_column(String(500))


class L1Flow(TenantRow, Timestamps, Base):
    """A decision tree authored by an admin: `tree` = {"start", "nodes": [...]} (shared/l1/flows.py)."""

    __tablename__ = "l1_flows"
    __table_args__ = (
        CheckConstraint("status IN ('draft','published')", name="status"),
        Index("ix_l1_flows_account_status_category", "account_id", "status", "category"),
        Index("ix_l1_flows_account_created", "account_id", "created_at", "id"),
        Index("ix_l1_flows_account_status_updated", "account_id", "status", "updated_at"),
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    keywords: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    tree: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    published_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class L1InternalTicket(TenantRow, Timestamps, Base):
    """A ticket L1 opened itself (no PSA ticket behind it)."""

    __tablename__ = "l1_internal_tickets"
    __table_args__ = (
        CheckConstraint("status IN ('open','in_progress','resolved','escalated')", name="status"),
        Index("ix_l1_internal_tickets_account_created", "account_id", "created_at", "id"),
        Index("ix_l1_internal_tickets_account_status_created", "account_id", "status", "created_at", "id"),
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    problem_statement: Mapped[str] = mapped_column(Text)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_contact: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")


class L1WalkSession(TenantRow, Base):
    """One technician walk: a published flow, an AI-built tree, or a straight escalation.

    Account-scoped, not creator-scoped: any L1 or covering engineer of the account may act on it.
    `walked_path` may start with a hidden `{"node_type": "meta", ...}` entry (the classified category).
    """

    __tablename__ = "l1_walk_sessions"
    __table_args__ = (
        CheckConstraint("session_kind IN ('flow','ai_build','escalate_without_walk')", name="session_kind"),
        CheckConstraint("status IN ('active','resolved','escalated')", name="status"),
        Index("ix_l1_walk_sessions_active_by_user", "account_id", "created_by", "status", "started_at"),
        Index(
            "ix_l1_walk_sessions_escalated",
            "account_id",
            "escalated_at",
            "id",
            postgresql_where=text("status = 'escalated'"),
        ),
        Index("ix_l1_walk_sessions_ticket", "ticket_id"),
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    session_kind: Mapped[str] = mapped_column(String(32))
    flow_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("l1_flows.id", ondelete="SET NULL"))
    flow_proposal: Mapped[dict[str, Any] | None]
    current_node_id: Mapped[str | None] = mapped_column(String(64))
    walked_path: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    walk_notes: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalation_reason_category: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("l1_internal_tickets.id", ondelete="SET NULL")
    )
    ticket_kind: Mapped[str] = mapped_column(String(16), default="internal", server_default="internal")
    started_at: Mapped[datetime] = created_at()
    last_step_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
