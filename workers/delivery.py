"""What a worker trusts in a message: the job id, nothing else. The tenant comes from the job row.

A message is `(job_id, account_id)` in Redis: anyone who can write to Redis can forge one. The claim runs in
the tenant scope the message names, so row-level security only lets it claim a row of that tenant; a message
without a tenant may only claim a job without one (an operator's). When nothing is claimed, one lookup in
the system scope says why: no such job, or a tenant that disagrees with the row → dropped and counted
(`flowpilot_messages_dropped_total{reason}`); a delivery ahead of `next_attempt_at` → sent again for the
remainder; otherwise a duplicate or a finished job → nothing to do.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import BigInteger, Row, bindparam, column
from sqlalchemy.dialects.postgresql import UUID

from db.engine import SYSTEM, tenant
from db.models.jobs import jobs_table
from db.oneshot import OneShot, run
from shared.jobs import state_machine
from shared.jobs.service import JobRef
from shared.metrics import record_dropped_message
from workers.resources import Resources

log = logging.getLogger(__name__)

_ROW = OneShot.of(
    "SELECT account_id, kind, queue, status, "
    "CAST(ceil(extract(epoch FROM next_attempt_at - now()) * 1000) AS bigint) AS early_ms FROM jobs WHERE id = :job_id",
    bindparam("job_id", type_=UUID(as_uuid=True)),
    columns=[jobs_table.c.account_id, jobs_table.c.kind, jobs_table.c.queue, jobs_table.c.status,
             column("early_ms", BigInteger)],
)


def claim_delivered(res: Resources, job_id_s: str, account_id_s: str | None, token: uuid.UUID) -> Row[Any] | None:
    """Claim the job a message names, or None (the message is dropped, rescheduled or a duplicate)."""
    try:
        job_id = uuid.UUID(job_id_s)
        named = uuid.UUID(account_id_s) if account_id_s else None
    except (TypeError, ValueError):
        return _drop(res, "bad_message", job_id_s, account_id_s)
    if named is None:  # only an operator's job has no tenant: check before claiming in the system scope
        row = _row(res, job_id)
        if row is None:
            return _drop(res, "job_missing", job_id_s, None)
        if row.account_id is not None:
            return _drop(res, "tenant_mismatch", job_id_s, None)
    job = state_machine.claim(res.engine, tenant(named) if named else SYSTEM, job_id, token)
    if job is not None:
        return job
    row = _row(res, job_id)
    if row is None:
        return _drop(res, "job_missing", job_id_s, account_id_s)
    if row.account_id != named:
        return _drop(res, "tenant_mismatch", job_id_s, account_id_s)
    if row.status in state_machine.WAITING and row.early_ms is not None and row.early_ms > 0:
        # Delivered before next_attempt_at (clock skew, an early re-send): ring again for the remainder.
        res.dispatcher.send([JobRef(job_id, row.account_id, row.kind, row.queue, delay_ms=int(row.early_ms))])
    log.debug("job %s: nothing to claim (duplicate, early or finished)", job_id)
    return None


def _row(res: Resources, job_id: uuid.UUID) -> Row[Any] | None:
    rows = run(res.engine, SYSTEM, _ROW, {"job_id": job_id})
    return rows[0] if rows else None


def _drop(res: Resources, reason: str, job_id: str, account_id: str | None) -> Row[Any] | None:
    """Count and log a refused message; returns None (nothing claimed) for the caller to return."""
    log.warning("dropped a message for job %.64s (tenant %.64s): %s", job_id, account_id, reason)
    record_dropped_message(res.redis, res.namespace, reason=reason)
    return None
