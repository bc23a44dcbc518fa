"""What a worker trusts in a message: the job id, nothing else. The tenant comes from the job row.

A message is `(job_id, account_id)` in Redis: anyone who can write to Redis can forge one. The claim runs in
the tenant scope the message names, so row-level security only lets it claim a row of that tenant; a message
without a tenant may only claim a job without one (an operator's). When nothing is claimed, one lookup in
the system scope says why: no such job, or a tenant that disagrees with the row → dropped and counted
(`flowpilot_messages_dropped_total{reason}`); a delivery ahead of `next_attempt_at` → sent again for the
remainder; otherwise a duplicate or a finished job → nothing to do.

A PSA job first reserves one of its tenant's share of this process's threads (shared/thread_share.py);
when the tenant holds its share already, the message is sent again shortly: nothing is claimed, no attempt
is spent, and the thread goes on to other work. The runner releases the reservation when the job ends.
"""
from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from sqlalchemy import BigInteger, Row, bindparam, column
from sqlalchemy.dialects.postgresql import UUID

from db.engine import SYSTEM, tenant
from db.models.jobs import jobs_table
from db.oneshot import OneShot, run
from shared.jobs import state_machine
from shared.jobs.kinds import spec_for
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


RESEND_MS = (250, 1000)  # a PSA job whose tenant holds its thread share comes back after this (jittered)


def claim_delivered(res: Resources, job_id_s: str, account_id_s: str | None, token: uuid.UUID, *,
                    kind: str | None = None) -> Row[Any] | None:
    """Claim the job a message (of actor `kind`) names, or None: dropped, deferred, rescheduled or a duplicate."""
    try:
        job_id = uuid.UUID(job_id_s)
        named = uuid.UUID(account_id_s) if account_id_s else None
    except (TypeError, ValueError):
        return _drop(res, "bad_message", job_id_s, account_id_s)
    share = res.psa_share if named is not None and kind is not None and spec_for(kind).uses_psa else None
    if share is not None and named is not None and not share.reserve(str(named), token):
        return _defer(res, job_id, named)
    job = _claim(res, job_id, named, account_id_s, token)
    if job is None and share is not None:
        share.release(token)
    return job


def release_thread(res: Resources, token: uuid.UUID) -> None:
    """The job holding `token` ended: give its thread back to its tenant's share (if it took one)."""
    if res.psa_share is not None:
        res.psa_share.release(token)


def _defer(res: Resources, job_id: uuid.UUID, named: uuid.UUID) -> Row[Any] | None:
    row = _row(res, job_id)
    if row is None or row.account_id != named:  # not worth a re-send: say why, like an unclaimed message
        return _drop(res, "job_missing" if row is None else "tenant_mismatch", str(job_id), str(named))
    if row.status in state_machine.WAITING:
        res.dispatcher.send([JobRef(job_id, row.account_id, row.kind, row.queue, delay_ms=random.randint(*RESEND_MS))])
    return None


def _claim(res: Resources, job_id: uuid.UUID, named: uuid.UUID | None, account_id_s: str | None,
           token: uuid.UUID) -> Row[Any] | None:
    job_id_s = str(job_id)
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
