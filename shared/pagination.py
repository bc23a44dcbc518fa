"""Keyset cursors over (created_at, id), newest first: stable under inserts, O(limit) per page."""
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


def page(stmt: Select[Any], model: Any, cursor: str | None, limit: int) -> Select[Any]:
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(model.created_at, model.id) < tuple_(at, row_id))
    return stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def next_cursor(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id)
