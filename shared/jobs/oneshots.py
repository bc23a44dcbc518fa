"""The job hot path's single-statement transactions, each one round trip (see db/oneshot.py).

Column lists are spelled out in the order of the columns given to `.columns()`, so the typed result rows match
positionally (UUIDs come back as uuid.UUID, JSONB as dicts) and serialize like an entity.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, Row, bindparam
from sqlalchemy.dialects.postgresql import JSONB, UUID

from db.engine import Scope
from db.models.jobs import jobs_table
from db.oneshot import OneShot, run
from shared.jobs.kinds import spec_for

_c = jobs_table.c
_COLUMNS = ", ".join(c.name for c in _c)
# What a poller sees (shared/jobs/serialize.py) and what dispatch needs: not the payload or the steps,
# whose JSON would be parsed for nothing on every poll.
_PUBLIC = [_c.id, _c.account_id, _c.kind, _c.queue, _c.status, _c.attempts, _c.max_attempts, _c.progress,
           _c.result, _c.error, _c.session_id, _c.batch_id, _c.created_at, _c.started_at, _c.finished_at,
           _c.next_attempt_at]
_PUBLIC_COLUMNS = ", ".join(c.name for c in _PUBLIC)
_ID = bindparam("job_id", type_=UUID(as_uuid=True))

READ = OneShot.of(f"SELECT {_PUBLIC_COLUMNS} FROM jobs WHERE id = :job_id", _ID, columns=_PUBLIC)

INSERT = OneShot.of(
    "INSERT INTO jobs (id, account_id, kind, queue, status, attempts, max_attempts, payload, steps, created_by, "
    "dispatched_at) VALUES (:job_id, :account_id, :kind, :queue, 'queued', 0, :max_attempts, :payload, "
    f"'{{}}'::jsonb, :created_by, now()) RETURNING {_PUBLIC_COLUMNS}",
    _ID, bindparam("account_id", type_=UUID(as_uuid=True)), bindparam("created_by", type_=UUID(as_uuid=True)),
    bindparam("payload", type_=JSONB), columns=_PUBLIC,
)

CLAIM = OneShot.of(
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), "
    "heartbeat_at = now(), claim_token = :token, updated_at = now() "
    "WHERE id = :job_id AND status IN ('queued', 'retrying') "
    f"AND (next_attempt_at IS NULL OR next_attempt_at <= now()) RETURNING {_COLUMNS}",
    _ID, bindparam("token", type_=UUID(as_uuid=True)), columns=list(_c),
)

COMPLETE = OneShot.of(
    "UPDATE jobs SET status = 'succeeded', result = :result, error = NULL, finished_at = now(), claim_token = NULL, "
    "updated_at = now() WHERE id = :job_id AND claim_token = :token AND status = 'running' RETURNING id",
    _ID, bindparam("token", type_=UUID(as_uuid=True)), bindparam("result", type_=JSONB), columns=[_c.id],
)


def read_job(engine: Engine, scope: Scope, job_id: uuid.UUID) -> Row[Any] | None:
    rows = run(engine, scope, READ, {"job_id": job_id})
    return rows[0] if rows else None


def insert_job(engine: Engine, scope: Scope, *, account_id: uuid.UUID | None, kind: str, payload: dict[str, Any],
               created_by: uuid.UUID | None) -> Row[Any]:
    """A queued job without dedupe or idempotency keys, committed on return (dispatch it after)."""
    spec = spec_for(kind)
    return run(engine, scope, INSERT, {"job_id": uuid.uuid4(), "account_id": account_id, "kind": kind,
                                       "queue": spec.queue, "max_attempts": spec.max_attempts, "payload": payload,
                                       "created_by": created_by})[0]


def claim_job(engine: Engine, scope: Scope, job_id: uuid.UUID, token: uuid.UUID) -> Row[Any] | None:
    """The conditional claim: a duplicate or early delivery claims nothing (None)."""
    rows = run(engine, scope, CLAIM, {"job_id": job_id, "token": token})
    return rows[0] if rows else None


def complete_job(engine: Engine, scope: Scope, job_id: uuid.UUID, token: uuid.UUID, result: dict[str, Any]) -> bool:
    """Mark success while we still hold the claim; False when fenced out."""
    return bool(run(engine, scope, COMPLETE, {"job_id": job_id, "token": token, "result": result}))
