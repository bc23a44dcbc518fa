"""Troubleshooting sessions and the state previews are built from (facts, suggested fixes)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Created, TenantRow, Timestamps, created_at, pk

SESSION_STATUSES = ("active", "paused", "requesting_escalation", "escalated", "resolved")
FIX_STATUSES = (
    "proposed",
    "applied_success",
    "applied_failed",
    "applied_partial",
    "applied_pending",
    "dismissed",
)
FIX_DECISIONS = ("one_off", "draft_template", "build_template", "dismissed")
FACT_SOURCES = ("engineer", "assistant")
MESSAGE_ROLES = ("user", "assistant")


class AiSession(TenantRow, Timestamps, Base):
    __tablename__ = "ai_sessions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active','paused','requesting_escalation','escalated','resolved')", name="status"
        ),
        # GET /ai-sessions lists newest first, optionally by status, with a keyset cursor.
        Index("ix_ai_sessions_account_created", "account_id", "created_at", "id"),
        Index("ix_ai_sessions_account_status_created", "account_id", "status", "created_at", "id"),
        Index("ix_ai_sessions_account_updated", "account_id", "updated_at"),
        # One engineer session per escalated walk: a second take is refused by the database too.
        Index(
            "uq_ai_sessions_l1_session",
            "account_id",
            "l1_session_id",
            unique=True,
            postgresql_where=text("l1_session_id IS NOT NULL"),
        ),
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(32), default="active", server_default="active")
    state_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    intake_type: Mapped[str] = mapped_column(String(32), default="free_text")
    intake: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    psa_connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("psa_connections.id", ondelete="SET NULL")
    )
    psa_ticket_id: Mapped[str | None] = mapped_column(String(64))
    resolution_note_markdown: Mapped[str | None] = mapped_column(Text)
    resolution_note_posted_at: Mapped[datetime | None]
    resolution_note_external_id: Mapped[str | None] = mapped_column(String(64))
    escalation_package_markdown: Mapped[str | None] = mapped_column(Text)
    escalation_package_posted_at: Mapped[datetime | None]
    escalation_package_external_id: Mapped[str | None] = mapped_column(String(64))
    resolution_summary: Mapped[str | None] = mapped_column(String(500))
    escalation_reason: Mapped[str | None] = mapped_column(String(500))
    resolved_at: Mapped[datetime | None]
    # The escalated L1 walk this session was started from (intake_type l1_escalation).
    l1_session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("l1_walk_sessions.id", ondelete="SET NULL"))


class SessionFact(TenantRow, Base):
    """A confirmed fact; soft-deleted so history survives and previews skip it."""

    __tablename__ = "session_facts"
    __table_args__ = (
        Index(
            "ix_session_facts_live",
            "session_id",
            "created_at",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        CheckConstraint("source IN ('engineer','assistant')", name="source"),
    )
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ai_sessions.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    # Who stated it: the engineer (POST /facts) or the assistant recording what the engineer confirmed.
    source: Mapped[str] = mapped_column(String(16), default="engineer", server_default="engineer")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    deleted_at: Mapped[datetime | None]


class SessionSuggestedFix(Created, Base):
    """An AI-proposed fix; at most one per session is active (superseded_at IS NULL)."""

    __tablename__ = "session_suggested_fixes"
    __table_args__ = (
        CheckConstraint("confidence_pct BETWEEN 0 AND 100", name="confidence_pct"),
        CheckConstraint(
            "user_decision IS NULL OR user_decision IN "
            "('one_off','draft_template','build_template','dismissed')",
            name="user_decision",
        ),
        CheckConstraint(
            "status IN ('proposed','applied_success','applied_failed',"
            "'applied_partial','applied_pending','dismissed')",
            name="status",
        ),
        # The database, not only the code, keeps one active fix per session.
        Index(
            "uq_session_suggested_fixes_one_active",
            "session_id",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
        Index("ix_session_suggested_fixes_session_created", "session_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = pk()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ai_sessions.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    confidence_pct: Mapped[int] = mapped_column(Integer)
    script_template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("script_templates.id", ondelete="SET NULL")
    )
    ai_drafted_script: Mapped[str | None] = mapped_column(Text)
    ai_drafted_parameters: Mapped[dict[str, Any] | None]
    script_language: Mapped[str | None] = mapped_column(String(32))
    user_decision: Mapped[str | None] = mapped_column(String(32))
    edited_script: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="proposed", server_default="proposed")
    applied_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    partial_notes: Mapped[str | None] = mapped_column(Text)
    pending_reason: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    ai_outcome_proposal: Mapped[dict[str, Any] | None]
    superseded_at: Mapped[datetime | None]


class SessionMessage(TenantRow, Created, Base):
    """One turn of the assistant conversation, with the effects an assistant turn had.

    `seq` orders the transcript: both writers (the POST and the reply job) lock the session row before
    inserting, so per session it follows commit order and `?after=` polling never skips a message.
    An assistant message is unique per job, so a retried or redelivered reply job cannot store it twice.
    """

    __tablename__ = "session_messages"
    __table_args__ = (
        CheckConstraint("role IN ('user','assistant')", name="role"),
        Index("ix_session_messages_session_seq", "session_id", "seq"),
        Index(
            "uq_session_messages_reply_job",
            "job_id",
            unique=True,
            postgresql_where=text("role = 'assistant'"),
        ),
    )
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ai_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # user: the reply job it started; assistant: the job that wrote it.
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    suggested_fix_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("session_suggested_fixes.id", ondelete="SET NULL")
    )
    fact_ids: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    outcome_proposal: Mapped[dict[str, Any] | None]
    generator: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    usage: Mapped[dict[str, Any] | None]

