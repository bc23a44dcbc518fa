"""The PSA provider contract: what the writeback needs from any PSA, in PSA-neutral types.

Writeback code talks only to `PsaProvider`, so ConnectWise today and Autotask or HaloPSA later
plug in through `shared.psa.registry` without touching the job logic. Every method raises
`shared.errors.TransientError` (retry later; `detail["outcome_unknown"]` says a write may have
happened) or `shared.errors.PermanentError` (retrying unchanged cannot help).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import requests


@dataclass(frozen=True, repr=False)
class PsaCredentials:
    """A decrypted PSA connection. Its repr hides the keys so it can never leak through logs."""

    site_url: str
    company_id: str
    public_key: str
    private_key: str
    client_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"PsaCredentials(site_url={self.site_url!r}, company_id={self.company_id!r}, "
            f"public_key='***', private_key='***', client_id={self.client_id!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class ClientOptions:
    """Per-process client settings; the session is shared so connections are pooled per worker.

    `allowed_hosts` is the operator allow-list handed to the SSRF guard before every request.
    `get_attempts` and `retry_wait_cap_s` bound the in-call retries of idempotent GETs only.
    `deadline_s` bounds each provider call in wall-clock time, whatever the server does (its in-call retries,
    codebase discovery and pagination included); `max_response_bytes` bounds each response body.
    """

    session: requests.Session
    allowed_hosts: frozenset[str] = frozenset()
    default_client_id: str | None = None
    timeout_s: float = 20.0
    connect_timeout_s: float = 5.0
    deadline_s: float = 30.0
    max_response_bytes: int = 5 * 1024 * 1024
    accept_version: str = "2020.4"
    get_attempts: int = 3
    retry_wait_cap_s: float = 5.0
    max_note_pages: int = 20
    note_page_size: int = 100
    # Called after every HTTP call as observe(status or None, seconds): metrics without coupling.
    observe: Any = None


@dataclass(frozen=True)
class PostedNote:
    """What a successful note post returns: the PSA's id, the proof the note exists."""

    id: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Note:
    """A note as read back from the PSA (used to check before re-posting after an unknown outcome)."""

    id: str
    text: str
    created_at: datetime | None
    internal: bool
    resolution: bool


@dataclass(frozen=True)
class Ticket:
    """The ticket facts the writeback verifies after a status change."""

    id: str
    status_id: int | None
    status_name: str | None
    board_id: int | None
    closed: bool
    summary: str | None = None


@dataclass(frozen=True)
class CompanyInfo:
    """What the PSA says about the company before any authentication (the connection test shows it)."""

    name: str | None
    version: str | None


@dataclass(frozen=True)
class Board:
    id: int
    name: str
    inactive: bool = False


@dataclass(frozen=True)
class BoardStatus:
    """A status of one board: the ids account settings map "resolved" and "escalated" to."""

    id: int
    name: str
    closed: bool = False
    inactive: bool = False


@runtime_checkable
class PsaProvider(Protocol):
    """One PSA tenant connection. Writes are sent once per call; only reads retry internally."""

    def post_note(self, ticket_id: str, text: str, *, internal: bool, resolution: bool) -> PostedNote:
        """Create a note; never retried blindly because PSAs have no idempotency key."""
        ...

    def list_notes(self, ticket_id: str) -> list[Note]:
        """All notes of a ticket, newest first, bounded to a sane number of pages."""
        ...

    def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket as the PSA sees it now (the only truth after a status change)."""
        ...

    def update_ticket_status(self, ticket_id: str, status_id: int) -> Ticket:
        """Ask for a status change; the answer may lie, so callers re-fetch with `get_ticket`."""
        ...

    def company_info(self) -> CompanyInfo:
        """The company as the PSA knows it, without credentials (is the site and company id right?)."""
        ...

    def check_access(self) -> str | None:
        """One authenticated read (are the keys right?); the PSA's version when it says."""
        ...

    def list_boards(self) -> list[Board]:
        ...

    def list_statuses(self, board_id: int) -> list[BoardStatus]:
        ...
