"""Find one row by id in the caller's scope, or raise NotFound: the one way every service does it.

Row-level security makes another tenant's row invisible, so "not yours" and "does not exist" are the same
answer, as they must be.
"""
from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from shared.errors import not_found

T = TypeVar("T")


def fetch(db: Session, model: type[T], row_id: uuid.UUID, *, what: str, code: str | None = None,
          for_update: bool = False, where: tuple[ColumnElement[bool], ...] = ()) -> T:
    """The row of `model` with this id (and `where`), locked FOR UPDATE when asked; else NotFound(code)."""
    entity: Any = model
    stmt = select(model).where(entity.id == row_id, *where)
    found = db.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    if found is None:
        raise not_found(what, code)
    return found
