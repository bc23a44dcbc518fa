"""Setting a PSA connection up from the admin page: test it, and read its boards and their statuses.

Each is a job (the PSA is slow and may be down), whose result the page watches. Boards and statuses are
cached in Redis for a few minutes, keyed by the connection's `updated_at`, so an edit of the connection
(another site, other keys) never shows the old PSA's lists.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import redis
from sqlalchemy.orm import Session

from db.models import Job, PsaConnection
from shared.jobs.service import create_job

CACHE_S = 300
TEST_KIND, BOARDS_KIND, STATUSES_KIND = "psa.test_connection", "psa.list_boards", "psa.list_statuses"


def cache_key(namespace: str, conn: PsaConnection, what: str) -> str:
    return f"{namespace}:psa-setup:{conn.id}:{conn.updated_at.timestamp():.6f}:{what}"


def lists_key(namespace: str, conn: PsaConnection, board_id: int | None) -> str:
    return cache_key(namespace, conn, "boards" if board_id is None else f"statuses:{board_id}")


def cached_list(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.get(key)
    return json.loads(raw) if raw else None


def store_list(client: redis.Redis, key: str, body: dict[str, Any]) -> None:
    client.set(key, json.dumps(body), ex=CACHE_S)


def request_job(db: Session, conn: PsaConnection, kind: str, *, user_id: uuid.UUID, board_id: int | None = None,
                idempotency_key: str | None = None, fingerprint: str | None = None) -> tuple[Job, bool]:
    """One such job per connection (and board) at a time: concurrent clicks share it."""
    payload: dict[str, Any] = {"connection_id": str(conn.id)}
    if board_id is not None:
        payload["board_id"] = board_id
    return create_job(db, account_id=conn.account_id, kind=kind, payload=payload, created_by=user_id,
                      dedupe_key=f"{kind}:{conn.id}:{board_id or ''}", idempotency_key=idempotency_key,
                      fingerprint=fingerprint)
