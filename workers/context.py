"""What a job handler sees: its payload, its recovery points and fenced writes to its own row."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from db.engine import Scope, transaction
from db.models.jobs import jobs_table
from workers.resources import Resources


class FencedOut(Exception):
    """Our claim is gone (the sweeper rescued the job or it was cancelled): stop without writing."""


@dataclass
class JobContext:
    resources: Resources
    job_id: uuid.UUID
    account_id: uuid.UUID | None
    kind: str
    scope: Scope
    claim_token: uuid.UUID
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    steps: dict[str, Any]
    session_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    queue: str
    created_by: uuid.UUID | None = None
    completed: bool = field(default=False)

    @contextmanager
    def tx(self, isolation: str | None = None) -> Iterator[Session]:
        """A transaction in this job's tenant scope (the job boundary owns the commit)."""
        with transaction(self.resources.engine, self.scope, isolation=isolation) as db:
            yield db

    def fenced_update(self, db: Session, **values: Any) -> None:
        """Write to our own job row only while we still hold the claim; else FencedOut."""
        done = db.execute(
            update(jobs_table)
            .where(jobs_table.c.id == self.job_id, jobs_table.c.claim_token == self.claim_token,
                   jobs_table.c.status == "running")
            .values(**values)
            .returning(jobs_table.c.id)
        ).scalar_one_or_none()
        if done is None:
            raise FencedOut(str(self.job_id))

    def record_step(self, name: str, data: dict[str, Any], db: Session | None = None) -> None:
        """Persist a recovery point before the next external step starts (commits unless `db` given)."""
        self.steps[name] = data
        if db is not None:
            # We hold the claim, so we are the only writer of `steps`: write the whole map.
            self.fenced_update(db, steps=dict(self.steps), heartbeat_at=func.now())
            return
        with self.tx() as own:
            self.record_step(name, data, own)

    def set_progress(self, progress: dict[str, Any], db: Session | None = None) -> None:
        """Visible progress for pollers (commits unless `db` given); doubles as a heartbeat."""
        if db is not None:
            self.fenced_update(db, progress=progress, heartbeat_at=func.now())
            return
        with self.tx() as own:
            self.set_progress(progress, own)

    def complete(self, db: Session, result: dict[str, Any]) -> None:
        """Mark success inside the handler's own transaction, atomically with its domain writes."""
        self.fenced_update(
            db, status="succeeded", result=result, error=None, finished_at=func.now(), claim_token=None
        )
        self.completed = True

