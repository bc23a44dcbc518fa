"""What a job handler sees: its payload, its recovery points and fenced writes to its own row."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Update, bindparam, func, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import functions
from sqlalchemy.sql.elements import ClauseElement

from db.engine import Scope, transaction
from db.models.jobs import jobs_table
from workers.resources import Resources


class FencedOut(Exception):
    """Our claim is gone (the sweeper rescued the job or it was cancelled): stop without writing."""


_FENCED: dict[tuple[tuple[str, bool], ...], Update] = {}


def _fenced_statement(values: dict[str, Any]) -> tuple[Update, dict[str, Any]] | None:
    """The fenced UPDATE for these column names, built once per shape (building it cost a quarter of a
    no-op job's worker CPU). Values are bound parameters; `func.now()` stays SQL. Other SQL expressions
    (e.g. `now() + interval`) are not cacheable: None."""
    shape = []
    params: dict[str, Any] = {}
    for name in sorted(values):
        value = values[name]
        is_now = isinstance(value, functions.now)
        if not is_now and isinstance(value, ClauseElement):
            return None
        shape.append((name, is_now))
        if not is_now:
            params[f"v_{name}"] = value
    key = tuple(shape)
    stmt = _FENCED.get(key)
    if stmt is None:
        c = jobs_table.c
        stmt = (
            update(jobs_table)
            .where(c.id == bindparam("f_id"), c.claim_token == bindparam("f_token"), c.status == "running")
            .values({n: func.now() if now else bindparam(f"v_{n}", type_=c[n].type) for n, now in key})
            .returning(c.id)
        )
        _FENCED[key] = stmt
    return stmt, params


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
        cached = _fenced_statement(values)
        if cached is not None:
            stmt, params = cached
            done = db.execute(stmt, {"f_id": self.job_id, "f_token": self.claim_token, **params}).scalar_one_or_none()
        else:
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

