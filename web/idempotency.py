"""Idempotency-Key for job-creating POSTs: same key + same body → same job; other body → 422."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import request

from db.models import Job
from shared.errors import Invalid
from shared.jobs.service import find_by_idempotency_key
from shared.jobs.state_machine import KeyTaken
from web.auth import principal
from web.db import db

MAX_KEY_LENGTH = 200


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid("invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters"
        )
    return key


def request_fingerprint() -> str:
    """Canonical JSON of the body plus method and path, so key reuse on another request is caught."""
    raw = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")) if raw else ""
    except ValueError:
        canonical = raw.decode("utf-8", "replace")
    material = f"{request.method} {request.path}\n{canonical}".encode()
    return hashlib.sha256(material).hexdigest()


def replay_or_create(create: Callable[[str | None, str | None], tuple[Job, bool]]) -> tuple[Job, bool]:
    """Run `create(key, fingerprint)` unless this key was used before by this caller.

    Returns (job, created). A concurrent request with the same key waits on the unique index
    and then replays the winner's job (the insert says KeyTaken).
    """
    key = idempotency_key()
    if key is None:
        return create(None, None)
    fingerprint = request_fingerprint()
    p = principal()
    session = db()

    def replay() -> tuple[Job, bool] | None:
        existing = find_by_idempotency_key(session, account_id=p.account_id, created_by=p.user_id, key=key)
        if existing is None:
            return None
        if existing.request_fingerprint != fingerprint:
            raise Invalid("idempotency_key_reused", "this Idempotency-Key was already used with a different request")
        return existing, False

    replayed = replay()
    if replayed is not None:
        return replayed
    try:
        with session.begin_nested():  # the domain writes `create` made are undone with it on a replay
            return create(key, fingerprint)
    except KeyTaken:
        replayed = replay()
        if replayed is None:
            raise
        return replayed
