"""What a job handler sees: its payload, its recovery points and fenced writes to its own row."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, update
from sqlalchemy.orm import Session

from db.engine import Scope, transaction
from db.models import Job
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

    def _fenced(self, db: Session, **values: Any) -> None:
        jobs = cast(Table, Job.__table__)  # Core, not the ORM bulk-update path: this runs several times per job
        done = db.execute(
            update(jobs)
            .where(jobs.c.id == self.job_id, jobs.c.claim_token == self.claim_token, jobs.c.status == "running")
            .values(**values)
            .returning(jobs.c.id)
        ).scalar_one_or_none()
        if done is None:
            raise FencedOut(str(self.job_id))

    def record_step(self, name: str, data: dict[str, Any], db: Session | None = None) -> None:
        """Persist a recovery point before the next external step starts (commits unless `db` given)."""
        self.steps[name] = data
        if db is not None:
            # We hold the claim, so we are the only writer of `steps`: write the whole map.
            self._fenced(db, steps=dict(self.steps), heartbeat_at=func.now())
            return
        with self.tx() as own:
            self.record_step(name, data, own)

    def set_progress(self, progress: dict[str, Any]) -> None:
        with self.tx() as db:
            self._fenced(db, progress=progress, heartbeat_at=func.now())

    def complete(self, db: Session, result: dict[str, Any]) -> None:
        """Mark success inside the handler's own transaction, atomically with its domain writes."""
        self._fenced(
            db, status="succeeded", result=result, error=None, finished_at=func.now(), claim_token=None
        )
        self.completed = True

