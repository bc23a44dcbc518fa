"""Which note on a ticket is ours from an earlier attempt: the rules that keep a session's note to one post.

PSAs have no idempotency key. So before the first POST of a session's note we remember the highest note id on
the ticket (the watermark), and every attempt records what it sent (`note_attempted`, carried over to any job
that supersedes this one). Before posting again, a note on the ticket is adopted as ours only if it has our
flags (resolution vs internal analysis), the content of one of our attempts (whitespace-insensitive), is not a
note the session already owns, and was created after our first attempt: its id is above the watermark (exact,
whatever the clocks say), or, for attempts recorded before watermarks existed, its creation time is not before
that attempt (to the second, the PSA's resolution). A note that was there before we started is never ours.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.isotime import iso
from shared.psa.base import Note


def content_key(text: str) -> str:
    """Whitespace-insensitive hash of a note body: what the PSA stores may differ in line endings."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()


def _numeric(note_id: str) -> int | None:
    text = str(note_id).strip()
    return int(text) if text.isdigit() else None


def watermark_of(notes: Iterable[Note]) -> int | None:
    """The highest note id on the ticket before our first POST (0 for none); None if its ids are not numbers."""
    ids = [_numeric(n.id) for n in notes]
    if any(i is None for i in ids):
        return None
    return max((i for i in ids if i is not None), default=0)


def flags_match(note: Note, kind: str) -> bool:
    """Resolution notes are customer-visible resolutions, escalation packages internal analysis only."""
    if kind == "resolution_note":
        return note.resolution and not note.internal
    return note.internal and not note.resolution


@dataclass(frozen=True)
class NoteAttempt:
    """The `note_attempted` recovery point: when the session's first attempt began, the watermark it saw, and
    the content of every text any attempt has sent."""

    first_at: datetime
    watermark: int | None
    content_keys: tuple[str, ...] = ()

    @classmethod
    def first(cls, watermark: int | None) -> NoteAttempt:
        return cls(datetime.now(UTC), watermark)

    @classmethod
    def from_step(cls, step: dict[str, Any]) -> NoteAttempt:
        keys = list(step.get("content_keys") or [])
        if step.get("content_key") and step["content_key"] not in keys:  # recorded before this format
            keys.append(step["content_key"])
        at = datetime.fromisoformat(str(step["at"]).replace("Z", "+00:00"))
        return cls(at if at.tzinfo else at.replace(tzinfo=UTC), step.get("watermark"), tuple(keys))

    def sending(self, key: str) -> NoteAttempt:
        """This attempt, about to send a text with content `key`."""
        return self if key in self.content_keys else NoteAttempt(self.first_at, self.watermark,
                                                                 (*self.content_keys, key))

    def to_step(self) -> dict[str, Any]:
        return {"at": iso(self.first_at), "watermark": self.watermark, "content_keys": list(self.content_keys),
                "last_at": iso(datetime.now(UTC))}

    def created_since(self, note: Note) -> bool:
        """Was `note` created after our first attempt began (never before it)?"""
        number = _numeric(note.id)
        if self.watermark is not None and number is not None:
            return number > self.watermark
        if note.created_at is None:
            return False
        created = note.created_at if note.created_at.tzinfo else note.created_at.replace(tzinfo=UTC)
        return created >= self.first_at.replace(microsecond=0)


def find_posted(notes: Iterable[Note], attempt: NoteAttempt, kind: str, known_ids: set[str]) -> Note | None:
    """The note one of our attempts left on the ticket (the earliest, if several did), or None."""
    mine = [n for n in notes
            if n.id not in known_ids and flags_match(n, kind) and content_key(n.text) in attempt.content_keys
            and attempt.created_since(n)]
    if not mine:
        return None
    return min(mine, key=lambda n: (_numeric(n.id) is None, _numeric(n.id) or 0, n.created_at or attempt.first_at))
