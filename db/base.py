"""Declarative base and column helpers shared by every model."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, func
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


def pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


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
    "llm_provider_batches",
)
