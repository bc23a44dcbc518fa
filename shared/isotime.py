"""Timestamps as the API writes them: ISO 8601 in UTC with a `Z`."""
from __future__ import annotations

from datetime import datetime


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None
