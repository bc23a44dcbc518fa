"""Keyset cursors over (created_at, id), newest first: stable under inserts, O(limit) per page.

`by="updated_at"` orders by latest activity instead; a row updated while someone pages moves to the front
(the next first page shows it), and is never shown twice.
"""
from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, tuple_

from shared.errors import Invalid


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, row_id = raw.partition("|")
        return datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("invalid_cursor", "cursor is not one this API issued") from None


def page(stmt: Select[Any], model: Any, cursor: str | None, limit: int, by: str = "created_at") -> Select[Any]:
    column = getattr(model, by)
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(column, model.id) < tuple_(at, row_id))
    return stmt.order_by(column.desc(), model.id.desc()).limit(limit + 1)


def next_cursor(rows: list[Any], limit: int, by: str = "created_at") -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], by), rows[-1].id)
