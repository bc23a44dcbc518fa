"""Problem categories: enabled ones are in scope for L1; flows register theirs on creation."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.base import db_now
from db.models import L1Category
from shared import limits
from shared.isotime import iso

CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def ensure(db: Session, account_id: uuid.UUID, name: str) -> None:
    """Register a category (enabled) unless it exists; an existing one keeps its settings.

    A new one must fit the tenant's bound: every intake classifies against all of them.
    """
    limits.lock_tenant(db, account_id, "l1_categories")
    names = select(L1Category.name).where(L1Category.account_id == account_id)
    if db.execute(names.where(L1Category.name == name)).first() is None:
        held = db.execute(select(func.count()).select_from(names.subquery())).scalar_one()
        if held >= limits.MAX_CATEGORIES:
            raise limits.reached("category_limit_reached", "L1 categories per tenant", limits.MAX_CATEGORIES)
    db.execute(
        insert(L1Category)
        .values(id=uuid.uuid4(), account_id=account_id, name=name, enabled=True, keywords=[])
        .on_conflict_do_nothing(index_elements=["account_id", "name"])
    )


def upsert(
    db: Session,
    account_id: uuid.UUID,
    name: str,
    *,
    enabled: bool,
    keywords: list[str] | None,
    description: str | None,
) -> tuple[L1Category, bool]:
    """Create or update; fields left as None keep their stored value. Returns (row, created)."""
    stmt = select(L1Category).where(L1Category.account_id == account_id, L1Category.name == name).with_for_update()
    row = db.execute(stmt).scalar_one_or_none()
    created = row is None
    if row is None:
        ensure(db, account_id, name)
        row = db.execute(stmt).scalar_one()
    row.enabled = enabled
    if keywords is not None:
        row.keywords = list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
    if description is not None:
        row.description = description or None
    row.updated_at = db_now()
    db.flush()
    db.refresh(row)
    return row, created


def list_categories(db: Session) -> list[L1Category]:
    return list(db.execute(select(L1Category).order_by(L1Category.name).limit(limits.MAX_CATEGORIES)).scalars())


def category_to_dict(c: L1Category) -> dict[str, Any]:
    return {
        "name": c.name,
        "enabled": c.enabled,
        "keywords": list(c.keywords or []),
        "description": c.description,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }
