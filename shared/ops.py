"""What operators see and do: broker queue depths, job counts, bulk retry/cancel, dead letters."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.models import Job
from shared.errors import DomainError, Invalid
from shared.jobs import state_machine
from shared.jobs.kinds import QUEUES
from shared.jobs.service import JobRef
from shared.pagination import next_cursor, page

BULK_LIMIT = 10_000
# redis-py types replies as unions of bytes/str/int/awaitables; we use the sync, bytes-returning client.
RedisClient = Any


def _oldest_age_s(r: RedisClient, ns: str, queue: str) -> float | None:
    head = r.lindex(f"{ns}:{queue}", 0)
    if head is None:
        return None
    raw = r.hget(f"{ns}:{queue}.msgs", head)
    if raw is None:
        return None
    try:
        stamp = json.loads(raw)["message_timestamp"] / 1000
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, time.time() - stamp)


def queue_stats(r: RedisClient, ns: str) -> list[dict[str, Any]]:
    """Per Dramatiq queue: ready (in the list), in flight (fetched, unacked), delayed, dead."""
    out = []
    for queue in QUEUES:
        pipe = r.pipeline(transaction=False)
        pipe.llen(f"{ns}:{queue}")
        pipe.hlen(f"{ns}:{queue}.msgs")
        pipe.hlen(f"{ns}:{queue}.DQ.msgs")
        pipe.zcard(f"{ns}:{queue}.XQ")
        ready, stored, delayed, dead = pipe.execute()
        out.append({
            "name": queue,
            "ready": ready,
            "in_flight": max(0, stored - ready),
            "delayed": delayed,
            "dead": dead,
            "oldest_ready_age_s": _oldest_age_s(r, ns, queue),
        })
    return out


def workers_seen(r: RedisClient, ns: str) -> list[dict[str, Any]]:
    seen = []
    for k in r.scan_iter(f"{ns}:workers:*", count=500):
        name = k.decode().split(":workers:", 1)[1]
        running = r.get(k)
        seen.append({"worker": name, "running_jobs": int(running) if running else 0})
    return sorted(seen, key=lambda w: w["worker"])


def job_counts(db: Session) -> dict[str, Any]:
    rows = db.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
    by_status: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    oldest = db.execute(select(func.min(Job.created_at)).where(Job.status.in_(state_machine.ACTIVE))).scalar_one()
    age = db.execute(select(func.extract("epoch", func.now() - oldest))).scalar_one() if oldest else None
    # Poison jobs: failed because they killed the process they ran in (see workers/sandbox.py).
    crashed = db.execute(select(func.count()).where(Job.status == state_machine.FAILED,
                                                    Job.error["code"].astext == "worker_crashed")).scalar_one()
    return {"by_status": by_status, "by_kind": by_kind, "oldest_active_age_s": float(age) if age is not None else None,
            "worker_crashed": int(crashed)}


@dataclass
class JobFilter:
    status: str | None = None
    kind: str | None = None
    account_id: uuid.UUID | None = None
    since: datetime | None = None
    batch_id: uuid.UUID | None = None
    ids: list[uuid.UUID] | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        if self.status:
            stmt = stmt.where(Job.status == self.status)
        if self.kind:
            stmt = stmt.where(Job.kind == self.kind)
        if self.account_id:
            stmt = stmt.where(Job.account_id == self.account_id)
        if self.since:
            stmt = stmt.where(Job.created_at >= self.since)
        if self.batch_id:
            stmt = stmt.where(Job.batch_id == self.batch_id)
        if self.ids:
            stmt = stmt.where(Job.id.in_(self.ids))
        return stmt


def list_jobs(db: Session, flt: JobFilter, cursor: str | None, limit: int) -> tuple[list[Job], str | None]:
    rows = list(db.execute(page(flt.apply(select(Job)), Job, cursor, limit)).scalars())
    return next_cursor(rows, limit)


def bulk(db: Session, flt: JobFilter, action: str, *, by: uuid.UUID | None = None, via: str = "ops"
         ) -> tuple[list[Job], list[dict[str, str]]]:
    """Retry (failed) or cancel (queued/retrying) every matching job, each under its own savepoint.

    Jobs that cannot move (another job holds their dedupe key, their retries are spent, their note may
    already be on the ticket, or they changed meanwhile) are reported as skipped instead of failing the
    whole request.
    """

    def move(db: Session, job: Job) -> Job:
        if action == "retry":
            return state_machine.retry(db, job, via=via, by=by)
        return state_machine.cancel(db, job)

    wanted = state_machine.sources(state_machine.QUEUED if action == "retry" else state_machine.CANCELLED)
    if flt.status and flt.status not in wanted:
        raise Invalid("validation_failed", f"{action} applies to jobs in status {', '.join(wanted)}")
    stmt = flt.apply(select(Job).where(Job.status.in_(wanted))).order_by(Job.created_at).limit(BULK_LIMIT)
    done: list[Job] = []
    skipped: list[dict[str, str]] = []
    for job in db.execute(stmt.with_for_update(skip_locked=True)).scalars():
        try:
            with db.begin_nested():
                done.append(move(db, job))
        except DomainError as err:
            skipped.append({"id": str(job.id), "code": err.code})
    return done, skipped


def dead_letters(r: RedisClient, ns: str, limit: int = 500) -> list[dict[str, Any]]:
    out = []
    for queue in QUEUES:
        xq = f"{ns}:{queue}.XQ"
        for message_id, score in r.zrange(xq, 0, limit - 1, withscores=True):
            raw = r.hget(f"{xq}.msgs", message_id)
            body = json.loads(raw) if raw else {}
            args = body.get("args") or [None, None]
            out.append({
                "queue": queue,
                "message_id": message_id.decode(),
                "actor": body.get("actor_name"),
                "job_id": args[0] if args else None,
                "account_id": args[1] if len(args) > 1 else None,
                "dead_since": datetime.fromtimestamp(score / 1000).isoformat() + "Z",
            })
    return out


def requeue_dead_letters(db: Session, r: RedisClient, ns: str, by: uuid.UUID | None = None
                         ) -> tuple[list[JobRef], list[str]]:
    """Requeue through our job rows: active jobs are re-dispatched, failed ones retried.

    Returns (refs to dispatch after commit, dead message ids to purge after commit).
    """
    refs: list[JobRef] = []
    letters = dead_letters(r, ns, limit=BULK_LIMIT)
    for letter in letters:
        try:
            job_id = uuid.UUID(str(letter["job_id"]))
        except ValueError:
            continue
        job = db.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
        if job is None:
            continue
        if job.status == state_machine.FAILED:
            try:
                with db.begin_nested():
                    state_machine.retry(db, job, via="dead_letter", by=by)
            except DomainError:
                continue
        if job.status in state_machine.WAITING:
            refs.append(JobRef.of(job))
    return refs, [str(letter["message_id"]) for letter in letters]


def purge_dead_letters(r: RedisClient, ns: str, message_ids: list[str] | None = None) -> int:
    removed = 0
    for queue in QUEUES:
        xq = f"{ns}:{queue}.XQ"
        ids = message_ids if message_ids is not None else [m.decode() for m in r.zrange(xq, 0, -1)]
        if not ids:
            continue
        removed += r.zrem(xq, *ids)
        r.hdel(f"{xq}.msgs", *ids)
    return removed
