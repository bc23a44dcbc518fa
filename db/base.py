"""Declarative base and column helpers shared by every model."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dict[str, Any]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
    }


def db_now() -> Any:
    """Postgres's now() to assign to a Mapped[datetime] attribute: evaluated at flush, on the transaction's
    clock. Typed Any so such assignments type-check as they are."""
    return func.now()


def pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class TenantRow:
    """Mixin: the `id` primary key, then `account_id`, the owning tenant (its rows go with it): the first two
    columns of most tenant tables (sort_order puts them before the class's own)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-2)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), sort_order=-1)


class Created:
    """Mixin: `created_at`, set by the database, after the class's own columns."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Timestamps:
    """Mixin: `created_at`, then `updated_at` (bumped by every ORM update), after the class's own columns."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


# Tables whose rows belong to one tenant: every one gets ENABLE + FORCE row-level
# security keyed on account_id (accounts itself on id). Kept here so the
# migration and the security tests read one list.
TENANT_TABLES: tuple[str, ...] = (
    "accounts",
    "users",
    "api_tokens",
    "account_settings",
    "psa_connections",
    "ai_sessions",
    "session_facts",
    "session_suggested_fixes",
    "script_templates",
    "draft_templates",
    "jobs",
    "previews",
    "batches",
    "l1_categories", "l1_flows", "l1_internal_tickets", "l1_walk_sessions",
    "session_messages",
    "job_attempts",
    "llm_provider_batches",
)
