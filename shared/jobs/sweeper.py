"""The clock's sweep: Postgres is the truth, so it re-rings the doorbell for anything Redis lost (and only that)."""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import Engine, func, or_, select, update

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.batches import finish_batches
from shared.jobs import state_machine
from shared.jobs.dispatch import Dispatcher, mark_undispatched
from shared.jobs.notify import publish_change
from shared.jobs.service import JobRef

log = logging.getLogger(__name__)

@dataclass
class SweepReport:
    rescued: int = 0
    failed: int = 0
    redispatched: int = 0  # messages sent again: their job had none left in Redis
    verified: int = 0  # overdue jobs whose message is still waiting in Redis (left alone)
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
    backoff_s: float = 2.0,
    backoff_max_s: float = 300.0,
) -> SweepReport:
    """Rescue stale running jobs, and send a message again for every due job that has none left in Redis.

    A job that merely waits (behind a busy pool) keeps its message and is only re-checked every
    `redispatch_after_s`; one that was never sent, or whose message Redis lost, is sent once. After Redis
    lost its data (no epoch) every waiting job is checked at once instead of after that grace period.
    """
    report = SweepReport()
    now = func.now()
    grace_s = 0.0 if dispatcher.new_epoch() else redispatch_after_s
    with transaction(engine, SYSTEM) as db:
        rescued = state_machine.rescue_stale(db, stale_after_s, backoff_s, backoff_max_s)
        report.rescued = sum(1 for r in rescued if r.status == state_machine.RETRYING)
        report.failed = len(rescued) - report.rescued
        due = db.execute(
            select(Job)
            .where(
                Job.status.in_(state_machine.WAITING),
                or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now),
                or_(Job.dispatched_at.is_(None), Job.dispatched_at < now - timedelta(seconds=grace_s)),
            )
            .order_by(Job.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars().all()
        sent = [j for j in due if j.dispatched_at is not None]
        waiting = dispatcher.waiting_in_redis([j.id for j in sent])
        if waiting is None:  # Redis unreachable: nothing can be checked or sent, except marked never-sent jobs
            due = [j for j in due if j.dispatched_at is None]
            waiting = set()
        report.verified = len(waiting)
        refs = [JobRef.of(j) for j in due if j.id not in waiting]
        # A rescued job gets its message now, delayed by its backoff.
        refs += [JobRef(r.id, r.account_id, r.kind, r.queue, max(1, int(r.delay_ms)))
                 for r in rescued if r.status == state_machine.RETRYING]
        if due:  # checked now: a waiting job is looked at again only after the grace period
            db.execute(update(Job).where(Job.id.in_([j.id for j in due])).values(dispatched_at=now))
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
