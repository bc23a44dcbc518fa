"""Creating and steering job rows. Services flush; the caller's boundary commits, then dispatches."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Job
from db.models.jobs import ACTIVE_JOB_STATUSES
from shared.errors import conflict
from shared.jobs.kinds import spec_for


@dataclass(frozen=True)
class JobRef:
    """What a dispatcher needs to ring the doorbell: nothing but ids and routing."""

    id: uuid.UUID
    account_id: uuid.UUID | None
    kind: str
    queue: str
    delay_ms: int | None = None

    @classmethod
    def of(cls, job: Job | Row[Any], delay_ms: int | None = None) -> JobRef:
        return cls(job.id, job.account_id, job.kind, job.queue, delay_ms)


def create_job(
    db: Session,
    *,
    account_id: uuid.UUID | None,
    kind: str,
    payload: dict[str, Any] | None = None,
    created_by: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    queue: str | None = None,
) -> tuple[Job, bool]:
    """Insert a queued job, or return the active job holding `dedupe_key` (created=False)."""
    spec = spec_for(kind)
    fields = dict(
        account_id=account_id, kind=kind, queue=queue or spec.queue, status="queued", attempts=0,
        max_attempts=spec.max_attempts, payload=payload or {}, steps={}, created_by=created_by,
        session_id=session_id, batch_id=batch_id, dedupe_key=dedupe_key, idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    if dedupe_key is None:
        job = Job(id=uuid.uuid4(), dispatched_at=func.now(), **fields)
        db.add(job)
        db.flush()
        return job, True
    for attempt in range(3):  # the holder may finish between our failed insert and the read: try again
        job = Job(id=uuid.uuid4(), dispatched_at=func.now(), **fields)
        try:
            with db.begin_nested():
                db.add(job)
                db.flush()
            return job, True
        except IntegrityError:
            existing = db.execute(
                select(Job).where(Job.dedupe_key == dedupe_key, Job.status.in_(ACTIVE_JOB_STATUSES))
            ).scalar_one_or_none()
            if existing is not None:
                return existing, False
            if attempt == 2:  # not a dedupe conflict (e.g. an Idempotency-Key race): the caller decides
                raise
    raise AssertionError("unreachable")


def find_by_idempotency_key(
    db: Session, *, account_id: uuid.UUID | None, created_by: uuid.UUID, key: str
) -> Job | None:
    return db.execute(
        select(Job).where(
            Job.account_id.is_(None) if account_id is None else Job.account_id == account_id,
            Job.created_by == created_by,
            Job.idempotency_key == key,
        )
    ).scalar_one_or_none()


def get_job_for_update(db: Session, job_id: uuid.UUID) -> Job | None:
    return db.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()


def cancel_job(db: Session, job: Job) -> Job:
    """Queued or retrying → cancelled. Running jobs finish (or fail) on their own."""
    if job.status not in ("queued", "retrying"):
        raise conflict("job_not_cancellable", f"job is {job.status}; only queued or retrying jobs can be cancelled")
    db.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(status="cancelled", finished_at=func.now(), next_attempt_at=None, claim_token=None)
    )
    db.refresh(job)
    return job


def retry_job(db: Session, job: Job) -> Job:
    """Failed → queued with a fresh attempt budget; recorded steps are kept so work resumes."""
    if job.status != "failed":
        raise conflict("job_not_retryable", f"job is {job.status}; only failed jobs can be retried")
    if job.dedupe_key:
        holder = db.execute(
            select(Job.id).where(
                Job.dedupe_key == job.dedupe_key, Job.status.in_(ACTIVE_JOB_STATUSES), Job.id != job.id
            )
        ).scalar_one_or_none()
        if holder is not None:
            raise conflict("job_superseded", f"job {holder} already does this work", job_id=str(holder))
    db.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            status="queued",
            attempts=0,
            finished_at=None,
            next_attempt_at=None,
            claim_token=None,
            dispatched_at=func.now(),
        )
    )
    db.refresh(job)
    return job
