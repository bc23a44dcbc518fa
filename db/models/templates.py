"""Reusable scripts: published templates and drafts proposed from a session's fix."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Created, TenantRow, Timestamps


class ScriptTemplate(TenantRow, Timestamps, Base):
    __tablename__ = "script_templates"
    __table_args__ = (Index("ix_script_templates_account_name", "account_id", "name"),)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(32), default="powershell", server_default="powershell")
    body: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))


class DraftTemplate(TenantRow, Created, Base):
    __tablename__ = "draft_templates"
    __table_args__ = (
        CheckConstraint("status IN ('pending','accepted','rejected')", name="status"),
        Index("ix_draft_templates_account_status", "account_id", "status", "created_at"),
    )
    source_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_sessions.id", ondelete="SET NULL")
    )
    source_fix_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("session_suggested_fixes.id", ondelete="SET NULL")
    )
    source_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    script_body: Mapped[str] = mapped_column(Text)
    proposed_parameters: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'::jsonb")
    )
    proposed_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")

