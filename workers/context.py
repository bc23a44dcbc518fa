"""What a job handler sees: its payload, its recovery points, fenced writes to its own row, capacity slots."""
from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy import func, text
from sqlalchemy.orm import Session

from db.engine import Scope, transaction
from db.models import PsaConnection
from shared.capacity import CapacityBusy
from shared.errors import JobError
from shared.jobs import state_machine
from shared.jobs.kinds import spec_for
from shared.jobs.notify import publish_change
from shared.metrics import record_external_call, record_llm_tokens
from shared.psa.base import PsaProvider
from shared.psa.registry import provider_for
from workers.resources import Resources

R = TypeVar("R")


class FencedOut(Exception):
    """Our claim is gone (the sweeper rescued the job or it was cancelled): stop without writing."""


class Postpone(Exception):
    """The job cannot start its work yet (no free slot, another owner's write still in flight): the runner
    puts it back, due shortly, with its attempt given back; no worker thread waits meanwhile."""

    def __init__(self, code: str, message: str, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.delay_s = delay_s  # the handler's own wait (a poll's backoff); else the runner's doubling one


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a Postgres advisory lock (a collision only makes two holders wait)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


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
    # External calls (PSA, remote LLM) of this attempt that failed: no answer or a status >= 400. Recorded with
    # the attempt (job_attempts.external_errors) by the transition that ends it, for the ops stats.
    external_errors: int = field(default=0)

    def _count_call(self, status: int | None) -> None:
        if status is None or status >= 400:
            self.external_errors += 1

    @contextmanager
    def tx(self, isolation: str | None = None) -> Iterator[Session]:
        """A transaction in this job's tenant scope (the job boundary owns the commit)."""
        with transaction(self.resources.engine, self.scope, isolation=isolation) as db:
            yield db

    @contextmanager
    def slot(self, kind: Literal["llm", "psa"]) -> Iterator[None]:
        """Hold one of the tenant's (and the platform's) concurrent LLM or PSA call slots while inside.

        None free → Postpone: the job goes back to `retrying` with its attempt, no thread waits for a slot.
        The offline generator calls nothing remote, so it takes no LLM slot.
        """
        res = self.resources
        capacity = res.psa_capacity if kind == "psa" else res.llm_capacity
        if capacity is None or (kind == "llm" and res.generator.name == "offline"):
            yield
            return
        with ExitStack() as held:
            try:
                held.enter_context(capacity.slot(str(self.account_id)))
            except CapacityBusy as busy:
                raise Postpone(busy.code, f"all {kind.upper()} slots are busy; waiting without using an attempt"
                               ) from None
            yield

    def llm(self, call: Callable[[], R]) -> R:
        """Run a generator call in an LLM slot; count it (status, latency) and the tokens its answer used.

        `call` returns a generator's answer (a Draft, an AssistantReply…); its `model` and `usage`, if any,
        feed flowpilot_llm_tokens_total. The offline generator is not an external call and is not counted.
        """
        res = self.resources
        remote = res.generator.name != "offline"
        started, status = time.monotonic(), None
        try:
            with self.slot("llm"):
                answer = call()
            status = 200
        except JobError as err:
            status = (err.detail or {}).get("status")
            raise
        finally:
            if remote:
                self._count_call(status)
                record_external_call(res.redis, res.namespace, provider=res.generator.name, status=status,
                                     seconds=time.monotonic() - started)
        usage = getattr(answer, "usage", None)
        if usage:
            record_llm_tokens(res.redis, res.namespace, model=getattr(answer, "model", None), usage=usage)
        return answer

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Be the only holder of `name` (across every worker process) while inside; a holder elsewhere →
        Postpone. A Postgres advisory lock in a transaction of its own: a holder that dies releases it."""
        with self.resources.engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(name)}).scalar_one():
                raise Postpone("write_in_flight", "another worker is still writing this (its request may be "
                               "in flight); waiting for it to end")
            try:
                yield
            finally:
                conn.rollback()  # ends the transaction: the lock goes with it

    def psa(self, conn: PsaConnection) -> PsaProvider:
        """The PSA client for a connection, with this worker's HTTP pool and every call counted in metrics."""
        res = self.resources
        if not spec_for(self.kind).uses_psa:  # its thread would escape the tenant's share (shared/thread_share.py)
            raise RuntimeError(f"job kind {self.kind} calls a PSA: mark it uses_psa in shared/jobs/kinds.py")

        def observe(status: int | None, seconds: float) -> None:
            self._count_call(status)
            record_external_call(res.redis, res.namespace, provider=conn.provider, status=status, seconds=seconds)

        return provider_for(conn, cipher=res.cipher, http=res.http, settings=res.settings, observe=observe)

    def _write(self, db: Session, **values: Any) -> None:
        if not state_machine.fenced_write(db, self.job_id, self.claim_token, **values):
            raise FencedOut(str(self.job_id))

    def record_step(self, name: str, data: dict[str, Any], db: Session | None = None) -> None:
        """Persist a recovery point before the next external step starts (commits unless `db` given)."""
        self.steps[name] = data
        if db is not None:
            # We hold the claim, so we are the only writer of `steps`: write the whole map.
            self._write(db, steps=dict(self.steps), heartbeat_at=func.now())
            return
        with self.tx() as own:
            self.record_step(name, data, own)

    def set_progress(self, progress: dict[str, Any] | None, db: Session | None = None) -> None:
        """Visible progress for pollers; doubles as a heartbeat.

        Without `db` it commits at once and wakes the job's long-polls (they see it without waiting out
        their timeout); with `db` the caller's commit makes it visible, and the runner's final notification.
        """
        if db is not None:
            self._write(db, progress=progress, heartbeat_at=func.now())
            return
        with self.tx() as own:
            self.set_progress(progress, own)
        publish_change(self.resources.redis, self.resources.namespace, self.job_id)

    def complete(self, db: Session, result: dict[str, Any]) -> None:
        """Mark success inside the handler's own transaction, atomically with its domain writes."""
        if not state_machine.succeed(db, self.job_id, self.claim_token, result, external_errors=self.external_errors):
            raise FencedOut(str(self.job_id))
        self.completed = True
