"""The clock's sweep: Postgres is the truth, so it re-rings the doorbell for anything Redis lost (and only that)."""
from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import ColumnElement, Engine, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.batches import finish_batches
from shared.jobs import state_machine
from shared.jobs.dispatch import Dispatcher, mark_undispatched
from shared.jobs.kinds import QUEUES
from shared.jobs.notify import publish_change
from shared.jobs.service import JobRef

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    rescued: int = 0
    failed: int = 0
    redispatched: int = 0  # messages sent: for rescued jobs, and for waiting jobs that had none left in Redis
    verified: int = 0  # overdue waiting jobs whose message is still in Redis (left alone)
    batches_finished: int = 0
    undelivered: list[JobRef] = field(default_factory=list)


def sweep_once(
    engine: Engine,
    dispatcher: Dispatcher,
    client: redis.Redis,
    namespace: str,
    *,
    stale_after_s: float,
    redispatch_after_s: float,
    limit: int = 1000,
    check_limit: int = 10_000,
    backoff_s: float = 2.0,
    backoff_max_s: float = 300.0,
) -> SweepReport:
    """Rescue stale running jobs, and send a message again for every due job that has none left in Redis.

    A job that merely waits (behind a busy pool) keeps its message: it is checked, never re-sent, and the
    check writes nothing. One that was never sent (`limit` per sweep), or whose message Redis lost, is sent
    once. Waiting jobs are checked `check_limit` per sweep (a read and one Redis command), resuming where the
    last sweep stopped, once their message is older than `redispatch_after_s`; after Redis lost its data (no
    epoch) at once.
    """
    report = SweepReport()
    dispatcher.requeue_from_dead_workers(QUEUES, int(stale_after_s * 1000))
    fresh = dispatcher.new_epoch()
    grace_s = 0.0 if fresh else redispatch_after_s
    cursor = _Cursor(client, namespace, reset=fresh)
    with transaction(engine, SYSTEM) as db:
        rescued = state_machine.rescue_stale(db, stale_after_s, backoff_s, backoff_max_s)
        report.rescued = sum(1 for r in rescued if r.status == state_machine.RETRYING)
        report.failed = len(rescued) - report.rescued
        never = _due(Job.dispatched_at.is_(None)).limit(limit)
        missing = [r.id for r in db.execute(never).all()]
        checked = _checked(db, cursor, grace_s, check_limit)
        present = dispatcher.waiting_in_redis([r.id for r in checked])
        if present is not None:  # (Redis unreachable: check nothing, send only what was never sent)
            report.verified = len(present)
            missing += [r.id for r in checked if r.id not in present]
        # Sent now. The guard re-checks each row, so a job claimed meanwhile (or by another sweeper) is skipped.
        refs = [JobRef(r.id, r.account_id, r.kind, r.queue) for r in db.execute(
            update(Job).where(Job.id.in_(missing), *_waiting(), or_(
                Job.dispatched_at.is_(None), Job.dispatched_at < func.now() - timedelta(seconds=grace_s)))
            .values(dispatched_at=func.now()).returning(Job.id, Job.account_id, Job.kind, Job.queue)
        ).all()] if missing else []
        # A rescued job gets its message now, delayed by its backoff.
        refs += [JobRef(r.id, r.account_id, r.kind, r.queue, max(1, int(r.delay_ms)))
                 for r in rescued if r.status == state_machine.RETRYING]
        report.batches_finished = finish_batches(db)
    report.undelivered = dispatcher.send(refs)
    mark_undispatched(engine, report.undelivered)
    report.redispatched = len(refs) - len(report.undelivered)
    for row in rescued:
        publish_change(client, namespace, row.id)
    if rescued or refs:
        log.info(
            "sweep: rescued=%d failed=%d redispatched=%d verified=%d undelivered=%d",
            report.rescued,
            report.failed,
            report.redispatched,
            report.verified,
            len(report.undelivered),
        )
    return report


def _waiting() -> tuple[ColumnElement[bool], ...]:
    return (Job.status.in_(state_machine.WAITING), or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= func.now()))


def _due(*where: ColumnElement[bool]) -> Any:
    return select(Job.id, Job.dispatched_at).where(*_waiting(), *where)


def _checked(db: Session, cursor: _Cursor, grace_s: float, limit: int) -> list[Any]:
    """The next `limit` due waiting jobs sent at least `grace_s` ago, in (dispatched_at, id) order from the
    cursor (an index walk on ix_jobs_sweep_dispatched); at the end of the backlog the cursor starts over."""
    stmt = _due(Job.dispatched_at < func.now() - timedelta(seconds=grace_s))
    after = cursor.get()
    if after is not None:
        stmt = stmt.where(tuple_(Job.dispatched_at, Job.id) > tuple_(literal(after[0]), literal(after[1])))
    rows = list(db.execute(stmt.order_by(Job.dispatched_at, Job.id).limit(limit)).all())
    cursor.set((rows[-1].dispatched_at, rows[-1].id) if len(rows) == limit else None)
    return rows


class _Cursor:
    """Where the last sweep's checks stopped (in Redis: it goes with the data it describes)."""

    def __init__(self, client: redis.Redis, namespace: str, *, reset: bool) -> None:
        self._client, self._key, self._reset = client, f"{namespace}:jobs:sweep-cursor", reset

    def get(self) -> tuple[datetime, uuid.UUID] | None:
        if self._reset:
            return None
        try:
            raw = self._client.get(self._key)
        except redis.RedisError:
            return None
        if not raw:
            return None
        at, _, job_id = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition("|")
        return datetime.fromisoformat(at), uuid.UUID(job_id)

    def set(self, value: tuple[datetime, uuid.UUID] | None) -> None:
        try:
            if value is None:
                self._client.delete(self._key)
            else:
                self._client.set(self._key, f"{value[0].isoformat()}|{value[1]}")
        except redis.RedisError as exc:
            log.debug("sweep cursor not saved: %s", exc)


def run_forever(interval_s: float, sweep: Any, stop: threading.Event | None = None) -> None:
    """Sweep every interval until SIGTERM/SIGINT; a failing sweep (DB or Redis down) is retried next tick."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        started = time.monotonic()
        try:
            sweep()
        except Exception as exc:
            log.warning("sweep failed, retrying next tick: %s", exc)
        stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
