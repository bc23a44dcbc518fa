"""Creating job rows for domain commands, and finding them again. Services flush; the caller's boundary
commits, then dispatches. Every status change goes through shared/jobs/state_machine.py."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select, update
from sqlalchemy.orm import Session

from db.models import Job
from shared.jobs.state_machine import WAITING, NewJob, insert_jobs


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
    steps: dict[str, Any] | None = None,
) -> tuple[Job, bool]:
    """Insert a queued job, or return the active job holding `dedupe_key` (created=False).

    `steps`: recovery points the new job starts from (those of a job it supersedes)."""
    new = NewJob(kind=kind, account_id=account_id, payload=payload or {}, created_by=created_by,
                 session_id=session_id, batch_id=batch_id, dedupe_key=dedupe_key,
                 idempotency_key=idempotency_key, fingerprint=fingerprint, queue=queue, steps=steps)
    return insert_jobs(db, [new])[0]


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


def wake(db: Session, *where: ColumnElement[bool]) -> list[JobRef]:
    """Waiting jobs matching `where` become due now (a parked batch child going back to the normal path, a
    polling job with news); no status changes, so this is not a transition. Dispatch the refs after commit."""
    rows = db.execute(
        update(Job)
        .where(and_(*where), Job.status.in_(WAITING))
        .values(next_attempt_at=func.now(), dispatched_at=func.now(), updated_at=func.now())
        .returning(Job.id, Job.account_id, Job.kind, Job.queue)
    ).all()
    return [JobRef(r.id, r.account_id, r.kind, r.queue) for r in rows]
