"""Attempt history: one `job_attempts` row per finished attempt, written by the transition that ends it.

The claim notes the attempt in flight on the job row (`attempt_started_at`, `attempt_due_at`, `worker`). Each
transition that ends an attempt (succeed, fail, retry_later, crashed in state_machine.py; rescue_stale for a
worker that died) is one statement built here: the job's UPDATE in a CTE, the attempt's INSERT from what that
UPDATE returned, and the trim of the oldest rows. So the history can never disagree with the job: both
commit together or not at all, and a fenced-out worker (its UPDATE matches nothing) records nothing.

What is not an attempt: a postponement (no LLM/PSA slot free, another write in flight) gives the attempt back
and does no work; the job's `error` says what it waits for and how many times it has waited. Cancelling and
retrying by hand end no attempt (none is running); manual retries are listed in `jobs.retries`.

Why ATTEMPTS_KEPT = 50 rows per job, in a table rather than a list on the job: a job's normal life is at most
(MAX_MANUAL_RETRIES + 1) × max_attempts (4 × 8 = 32 for the most patient kind) plus a few worker losses, so
50 keeps every attempt of every job that behaves; the cap only bounds a pathological one (a job rescued again
and again), and the newest attempts are the ones that say what is wrong now. A table keeps the job row small
(the poller reads it every second; a JSON list would grow it and be rewritten on every transition) and lets
the stats of the last hour read attempts through an index without touching the jobs they belong to.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from db.models import JobAttempt
from shared.rows import pick

ATTEMPTS_KEPT = 50

_host = socket.gethostname()


def worker_name() -> str:
    """This process as the heartbeat names it (`host:pid`), so the console can match the two."""
    return f"{_host}:{os.getpid()}"


_COLUMNS = ("job_id, account_id, kind, number, worker, due_at, started_at, finished_at, outcome, error, "
            "retry_after_s, next_attempt_at, step, external_errors")
_NEXT_NUMBER = "coalesce((SELECT max(a.number) FROM job_attempts a WHERE a.job_id = j.id), 0) + 1"
_TRIM = (f"trimmed AS (DELETE FROM job_attempts d USING recorded r "
         f"WHERE d.job_id = r.job_id AND d.number <= r.number - {ATTEMPTS_KEPT})")
RETURNED = "id, account_id, kind, worker, attempt_due_at, attempt_started_at, error, progress, next_attempt_at"


def ending(sets: str) -> str:
    """SQL ending the attempt of a job we hold (`:job_id`, fenced by `:token`): the job's UPDATE with `sets`,
    the attempt recorded with `:outcome`, `:retry_after_s` and `:external_errors`. Returns the job id, or no
    row when the claim is gone."""
    return (
        f"WITH j AS (UPDATE jobs SET {sets}, updated_at = now() "
        f"WHERE id = :job_id AND claim_token = :token AND status = 'running' RETURNING {RETURNED}), "
        f"recorded AS (INSERT INTO job_attempts ({_COLUMNS}) "
        f"SELECT j.id, j.account_id, j.kind, {_NEXT_NUMBER}, j.worker, j.attempt_due_at, j.attempt_started_at, now(), "
        f"CAST(:outcome AS varchar), j.error, CAST(:retry_after_s AS double precision), "
        f"CASE WHEN CAST(:outcome AS varchar) = 'retrying' THEN j.next_attempt_at END, "
        f"left(j.progress ->> 'step', 64), CAST(:external_errors AS integer) FROM j RETURNING job_id, number), "
        f"{_TRIM} SELECT id FROM j"
    )


ENDING_BINDS: tuple[BindParameter[Any], ...] = (bindparam("outcome"), bindparam("retry_after_s"),
                                                 bindparam("external_errors"))


def ending_params(outcome: str, retry_after_s: float | None, external_errors: int) -> dict[str, Any]:
    return {"outcome": outcome, "retry_after_s": retry_after_s, "external_errors": int(external_errors)}


_LOST = text(
    f"WITH recorded AS (INSERT INTO job_attempts ({_COLUMNS}) "
    f"SELECT j.id, j.account_id, j.kind, {_NEXT_NUMBER}, j.worker, j.attempt_due_at, j.attempt_started_at, "
    f"coalesce(j.heartbeat_at, now()), 'worker_lost', j.error, NULL, j.next_attempt_at, "
    f"left(j.progress ->> 'step', 64), 0 FROM jobs j WHERE j.id = ANY(:ids) RETURNING job_id, number), "
    f"{_TRIM} SELECT count(*) FROM recorded"
).bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))


def record_lost(db: Session, job_ids: Sequence[uuid.UUID]) -> int:
    """The attempts of jobs the sweeper just rescued from a dead worker (in the sweeper's transaction): ended
    `worker_lost` at the worker's last heartbeat, the job's `error` and next due time as the rescue set them."""
    if not job_ids:
        return 0
    return int(db.execute(_LOST, {"ids": list(job_ids)}).scalar_one())


# ---------------------------------------------------------------------------------------------- reading


def attempts_of(db: Session, job_id: uuid.UUID) -> Sequence[JobAttempt]:
    """The job's recorded attempts, oldest first (row-level security scopes them like the job)."""
    return db.execute(select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.number)).scalars().all()


def _seconds(later: Any, earlier: Any) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max(0.0, (later - earlier).total_seconds()), 3)


def attempt_to_dict(a: JobAttempt | Row[Any], *, operator: bool = False) -> dict[str, Any]:
    """API.md's attempt: number, times, outcome, error, step; the worker's name for operators only (hosts and
    process ids are the platform's business, not the tenant's)."""
    body: dict[str, Any] = {
        **pick(a, "number", "started_at", "finished_at", "outcome", "error", "step", "retry_after_s",
               "next_attempt_at"),
        "queue_wait_s": _seconds(a.started_at, a.due_at),
        "run_time_s": _seconds(a.finished_at, a.started_at),
        "external_errors": a.external_errors,
    }
    if operator:
        body["worker"] = a.worker
    return body
