"""Tenants, their people and credentials, and their PSA connections."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Created, TenantRow, Timestamps, created_at, pk, updated_at

ROLES = ("l1", "engineer", "admin", "owner")


class Account(Created, Base):
    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = pk()
    name: Mapped[str] = mapped_column(String(200))


class User(Created, Base):
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
        # Sign-in finds a person by email before the tenant is known: an address that can sign in names
        # exactly one user across all tenants (case-insensitively).
        Index("uq_users_login_email", text("lower(email)"), unique=True,
              postgresql_where=text("password_hash IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str | None] = mapped_column(String(16))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # argon2id (PHC string); NULL: this user cannot sign in with a password (API tokens only).
    password_hash: Mapped[str | None] = mapped_column(String(255))


TOKEN_KINDS = ("api", "login")


class ApiToken(Base):
    """Opaque bearer token; only its SHA-256 is stored, the prefix helps humans tell them apart.

    `kind` is `api` (made by the CLI for scripts; no expiry unless given) or `login` (made by sign-in; it
    always expires). An expired or revoked token authenticates nobody.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('api','login')", name="kind"),
        # GET /tokens lists an account's tokens newest first.
        Index("ix_api_tokens_account_created", "account_id", "created_at", "id"),
    )
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    created_at: Mapped[datetime] = created_at()
    # Written at most once a minute per token (web/auth_lookups.py), so it costs the hot path nothing.
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AccountSettings(Base):
    __tablename__ = "account_settings"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = updated_at()


class PsaConnection(TenantRow, Timestamps, Base):
    """A tenant's PSA credentials; `credentials` is a MultiFernet token bound to the account."""

    __tablename__ = "psa_connections"
    __table_args__ = (Index("ix_psa_connections_account_created", "account_id", "created_at"),)
    provider: Mapped[str] = mapped_column(String(32))
    site_url: Mapped[str] = mapped_column(String(2048))
    company_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(128))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

