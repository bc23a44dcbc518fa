"""Tenants, their people and credentials, and their PSA connections."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, pk, updated_at

ROLES = ("l1", "engineer", "admin", "owner")


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = pk()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()


class User(Base):
    """A tenant user (account + role) or a platform operator (neither)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(is_operator AND account_id IS NULL AND role IS NULL) OR "
            "(NOT is_operator AND account_id IS NOT NULL AND role IN ('l1','engineer','admin','owner'))",
            name="kind",
        ),
        Index("uq_users_account_email", "account_id", "email", unique=True),
        Index("uq_users_operator_email", "email", unique=True, postgresql_where=text("is_operator")),
    )
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str | None] = mapped_column(String(16))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = created_at()


class ApiToken(Base):
    """Opaque bearer token; only its SHA-256 is stored, the prefix helps humans tell them apart."""

    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AccountSettings(Base):
    __tablename__ = "account_settings"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = updated_at()


class PsaConnection(Base):
    """A tenant's PSA credentials; `credentials` is a MultiFernet token bound to the account."""

    __tablename__ = "psa_connections"
    __table_args__ = (Index("ix_psa_connections_account_created", "account_id", "created_at"),)
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    site_url: Mapped[str] = mapped_column(String(2048))
    company_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(128))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
