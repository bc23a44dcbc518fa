"""Rows as the API writes them: ids as strings, timestamps as ISO 8601 (`Z`), everything else as stored."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.isotime import iso


def plain(value: Any) -> Any:
    """A column value in its JSON form; None stays None."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    return value


def pick(row: Any, *names: str) -> dict[str, Any]:
    """The named attributes of an ORM row, in order, each in its JSON form."""
    return {name: plain(getattr(row, name)) for name in names}
