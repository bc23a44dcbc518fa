"""The job state machine: the statuses, the transitions allowed between them, and the one function per
transition that writes it. Nothing else in the code base writes `jobs.status`.

    (new) ──insert──▶ queued ──claim──▶ running ──succeed──▶ succeeded
                        │  ▲              │ ├──fail─────────▶ failed ──retry──▶ queued
                        │  │              │ └──retry_later──▶ retrying ──claim──▶ running
                        │  └──────────────┘ (rescue_stale: running → retrying | failed, by the sweeper)
                        └──cancel──▶ cancelled ◀──cancel── retrying
    postpone: running → retrying with the attempt given back (no slot free yet, another write in flight);
    crashed: running → failed, the job killed the process it ran in alone (workers/sandbox.py).

Transitions a worker makes while it holds the job (succeed, fail, retry_later, postpone, crashed, and the writes of
`fenced_write`) are fenced by its claim token: a worker whose claim was taken over writes nothing.
The transitions that end an attempt (succeed, fail, retry_later, crashed, rescue_stale) record it in job_attempts
in the same statement or transaction (attempts.py): the history and the job never disagree.
The hot path (claim, succeed without domain writes, the keyless insert of POST /jobs) runs as one-round-trip
statements (db/oneshot.py); everything else runs in the caller's transaction, which the caller commits.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Float, Row, and_, bindparam, case, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db.engine import Scope
from db.models import Job
from db.models.jobs import jobs_table
from db.oneshot import OneShot, run
from shared.errors import Conflict
from shared.jobs import attempts
from shared.jobs.kinds import spec_for

QUEUED, RUNNING, RETRYING = "queued", "running", "retrying"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING, RETRYING)  # a job in these holds its dedupe key
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)  # a poller stops here (failed may still be retried)
WAITING = (QUEUED, RETRYING)  # not running: a worker may claim it, a user may cancel it

# Every allowed move. The SQL guard of each transition function is derived from this table.
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, RETRYING}),
    RETRYING: frozenset({RUNNING, CANCELLED}),
    FAILED: frozenset({QUEUED}),
    SUCCEEDED: frozenset(),
    CANCELLED: frozenset(),
}


def sources(target: str) -> tuple[str, ...]:
    """The statuses a job may move to `target` from."""
    return tuple(s for s in STATUSES if target in TRANSITIONS[s])


def allowed(source: str, target: str) -> bool:
    return target in TRANSITIONS[source]


_c = jobs_table.c
# What a poller sees: not the payload or the steps (their JSON is parsed for nothing).
PUBLIC_COLUMNS = [_c.id, _c.account_id, _c.kind, _c.queue, _c.status, _c.attempts, _c.max_attempts, _c.progress,
                  _c.result, _c.error, _c.session_id, _c.batch_id, _c.created_at, _c.started_at, _c.finished_at,
                  _c.next_attempt_at]


def _in(statuses: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


# ---------------------------------------------------------------------------------------------- insert


class KeyTaken(Exception):
    """A concurrent request with the same Idempotency-Key committed first: replay its job."""


@dataclass(frozen=True)
class NewJob:
    """Everything a new job row says; `row()` is the only place its initial values are decided."""

    kind: str
    account_id: uuid.UUID | None
    payload: dict[str, Any] = field(default_factory=dict)
    created_by: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    dedupe_key: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    queue: str | None = None
    steps: dict[str, Any] | None = None  # recovery points carried over from the job this one supersedes
    # Parked until then: no worker claims it and the sweeper leaves it alone (a provider batch does its work;
    # if nothing completes it by then, it runs on its own).
    not_before: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def row(self) -> dict[str, Any]:
        spec = spec_for(self.kind)
        return {
            "id": self.id, "account_id": self.account_id, "kind": self.kind, "queue": self.queue or spec.queue,
            "status": QUEUED, "attempts": 0, "max_attempts": spec.max_attempts, "payload": self.payload,
            "steps": dict(self.steps or {}), "created_by": self.created_by, "session_id": self.session_id, "batch_id": self.batch_id,
            "dedupe_key": self.dedupe_key, "idempotency_key": self.idempotency_key,
            "request_fingerprint": self.fingerprint, "next_attempt_at": self.not_before,
        }


def insert_jobs(db: Session, jobs: Sequence[NewJob]) -> list[tuple[Job, bool]]:
    """The one way to create job rows, one statement for any number: (job, created) per NewJob, in order.

    A job whose dedupe key an active job holds is not created: that holder is returned with created=False
    (identical previews share one job; one writeback per session). A job whose Idempotency-Key a concurrent
    request took first raises KeyTaken (the web layer replays that request's job).
    """
    if not jobs:
        return []
    out: list[tuple[Job, bool] | None] = [None] * len(jobs)
    pending = list(enumerate(jobs))
    for _ in range(3):  # a holder may finish between our insert and our read of it: insert those again
        stmt = pg_insert(Job).values([j.row() | {"dispatched_at": j.not_before or func.now()} for _, j in pending])
        created = {j.id: j for j in db.scalars(stmt.on_conflict_do_nothing().returning(Job))}
        retry: list[tuple[int, NewJob]] = []
        for i, new in pending:
            if new.id in created:
                out[i] = (created[new.id], True)
                continue
            holder = _dedupe_holder(db, new.dedupe_key) if new.dedupe_key else None
            if holder is not None:
                out[i] = (holder, False)
            elif new.idempotency_key is not None and new.dedupe_key is None:
                raise KeyTaken(new.idempotency_key)
            else:
                retry.append((i, replace(new, id=uuid.uuid4())))
        if not retry:
            return [o for o in out if o is not None]
        pending = retry
    raise KeyTaken("the job's dedupe or idempotency key stayed taken")


def _dedupe_holder(db: Session, key: str) -> Job | None:
    return db.execute(select(Job).where(Job.dedupe_key == key, Job.status.in_(ACTIVE))).scalar_one_or_none()


_INSERT_COLS = list(NewJob(kind="system.echo", account_id=None).row())
_INSERT = OneShot.of(
    f"INSERT INTO jobs ({', '.join(_INSERT_COLS)}, dispatched_at) "
    f"VALUES ({', '.join(':' + c for c in _INSERT_COLS)}, now()) "
    f"RETURNING {', '.join(c.name for c in PUBLIC_COLUMNS)}",
    *(bindparam(c, type_=_c[c].type) for c in _INSERT_COLS), columns=PUBLIC_COLUMNS,
)


def insert_job(engine: Engine, scope: Scope, *, account_id: uuid.UUID | None, kind: str, payload: dict[str, Any],
               created_by: uuid.UUID | None) -> Row[Any]:
    """The same row as `insert_jobs`, without dedupe or idempotency keys, committed in one round trip.

    The hot path of POST /jobs; dispatch it after it returns.
    """
    new = NewJob(kind=kind, account_id=account_id, payload=payload, created_by=created_by)
    return run(engine, scope, _INSERT, new.row())[0]


# ------------------------------------------------------------------------------------- worker transitions

_ID = bindparam("job_id", type_=UUID(as_uuid=True))
_TOKEN = bindparam("token", type_=UUID(as_uuid=True))

# The claim also notes the attempt in flight (attempts.py records it when a transition ends it): when it started,
# when it had become due (next_attempt_at for a retry, rescue or manual retry; created_at for a first run).
_WORKER = bindparam("worker", type_=_c.worker.type)
_CLAIMING = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), "
    "heartbeat_at = now(), claim_token = :token, updated_at = now(), attempt_started_at = now(), "
    "attempt_due_at = least(now(), coalesce(next_attempt_at, created_at)), worker = :worker "
    f"WHERE id = :job_id AND status IN {_in(sources(RUNNING))} "
)
_CLAIM = OneShot.of(
    f"{_CLAIMING} AND (next_attempt_at IS NULL OR next_attempt_at <= now()) RETURNING {', '.join(c.name for c in _c)}",
    _ID, _TOKEN, _WORKER, columns=list(_c),
)
_ADOPT = text(f"{_CLAIMING} RETURNING id").bindparams(_ID, _TOKEN, _WORKER)  # due or not (parked)

_RESULT = bindparam("result", type_=_c.result.type)
_ERROR = bindparam("error", type_=_c.error.type)
_DELAY = bindparam("delay_s", type_=Float())
_SUCCEED_SETS = "status = 'succeeded', result = :result, error = NULL, finished_at = now(), claim_token = NULL"
_SUCCEED = OneShot.of(attempts.ending(_SUCCEED_SETS), _ID, _TOKEN, _RESULT, *attempts.ENDING_BINDS, columns=[_c.id])


def claim(engine: Engine, scope: Scope, job_id: uuid.UUID, token: uuid.UUID) -> Row[Any] | None:
    """queued | retrying → running, one conditional UPDATE: a duplicate or early delivery claims nothing."""
    rows = run(engine, scope, _CLAIM, {"job_id": job_id, "token": token, "worker": attempts.worker_name()})
    return rows[0] if rows else None


def succeed_now(engine: Engine, scope: Scope, job_id: uuid.UUID, token: uuid.UUID, result: dict[str, Any], *,
                external_errors: int = 0) -> bool:
    """running → succeeded in one round trip (no domain writes to commit with it), the attempt recorded with it;
    False when fenced out."""
    params = {"job_id": job_id, "token": token, "result": result,
              **attempts.ending_params(SUCCEEDED, None, external_errors)}
    return bool(run(engine, scope, _SUCCEED, params))


def fenced_write(db: Session, job_id: uuid.UUID, token: uuid.UUID, **values: Any) -> bool:
    """Write columns of a job we hold (steps, progress, heartbeat); False when our claim is gone."""
    if "status" in values:
        raise ValueError("status changes go through the transition functions")
    return _fenced(db, job_id, token, values)


def _fenced(db: Session, job_id: uuid.UUID, token: uuid.UUID, values: dict[str, Any]) -> bool:
    done = db.execute(
        update(jobs_table)
        .where(_c.id == job_id, _c.claim_token == token, _c.status == RUNNING)
        .values(**values, updated_at=func.now())
        .returning(_c.id)
    ).scalar_one_or_none()
    return done is not None


def _end(db: Session, job_id: uuid.UUID, token: uuid.UUID, stmt: Any, outcome: str, params: dict[str, Any],
         retry_after_s: float | None, external_errors: int) -> bool:
    """Run an attempt-ending statement (attempts.ending): the job's move and its attempt, one statement."""
    bound = {"job_id": job_id, "token": token, **params,
             **attempts.ending_params(outcome, retry_after_s, external_errors)}
    return db.execute(stmt, bound).first() is not None


def _ending(sets: str, *binds: Any) -> Any:
    return text(attempts.ending(sets)).bindparams(_ID, _TOKEN, *binds, *attempts.ENDING_BINDS)


_SUCCEED_TX = _ending(_SUCCEED_SETS, _RESULT)
_FAIL_TX = _ending("status = 'failed', error = :error, finished_at = now(), claim_token = NULL", _ERROR)
_CRASHED_TX = _ending("status = 'failed', error = :error, finished_at = now(), crashes = crashes + 1, "
                      "claim_token = NULL", _ERROR)
_RETRY_LATER_TX = _ending(
    "status = 'retrying', error = :error, next_attempt_at = now() + :delay_s * interval '1 second', "
    "dispatched_at = now() + :delay_s * interval '1 second', claim_token = NULL", _ERROR, _DELAY)


def succeed(db: Session, job_id: uuid.UUID, token: uuid.UUID, result: dict[str, Any], *,
            external_errors: int = 0) -> bool:
    """running → succeeded inside the caller's transaction, atomically with its domain writes."""
    return _end(db, job_id, token, _SUCCEED_TX, SUCCEEDED, {"result": result}, None, external_errors)


def fail(db: Session, job_id: uuid.UUID, token: uuid.UUID, error: dict[str, Any], *,
         retry_after_s: float | None = None, external_errors: int = 0) -> bool:
    """running → failed: a permanent error, or the attempts are spent."""
    return _end(db, job_id, token, _FAIL_TX, FAILED, {"error": error}, retry_after_s, external_errors)


def retry_later(db: Session, job_id: uuid.UUID, token: uuid.UUID, error: dict[str, Any], delay_s: float, *,
                retry_after_s: float | None = None, external_errors: int = 0) -> bool:
    """running → retrying, due in `delay_s`. dispatched_at = when the delayed message is due, so the sweeper
    leaves the job alone until then. `retry_after_s`: what the remote asked for (recorded with the attempt)."""
    return _end(db, job_id, token, _RETRY_LATER_TX, RETRYING, {"error": error, "delay_s": float(delay_s)},
                retry_after_s, external_errors)


def postpone(db: Session, job_id: uuid.UUID, token: uuid.UUID, error: dict[str, Any], delay_s: float) -> bool:
    """running → retrying, due in `delay_s`, with the claim's attempt given back: the job could not start its
    work yet (no LLM/PSA slot free, another owner's write still in flight), so waiting costs it nothing.
    Not an attempt: nothing is recorded in job_attempts (attempts.py says why)."""
    due = func.now() + timedelta(seconds=delay_s)
    return _fenced(db, job_id, token, {"status": RETRYING, "error": error, "attempts": _c.attempts - 1,
                                       "next_attempt_at": due, "dispatched_at": due, "claim_token": None})


def crashed(db: Session, job_id: uuid.UUID, token: uuid.UUID, error: dict[str, Any]) -> bool:
    """running → failed: the job killed the process it ran in alone (workers/sandbox.py), after an earlier
    worker process already died under it. Counted with the sweeper's crashes."""
    return _end(db, job_id, token, _CRASHED_TX, "crashed", {"error": error}, None, 0)


def adopt(db: Session, job_id: uuid.UUID, token: uuid.UUID) -> bool:
    """queued | retrying → running inside the caller's transaction, parked or not: another job did this one's
    work (a provider batch answered its request) and completes it with `succeed`/`fail` under `token` in the
    same transaction. The claim's own statement, without its due-time guard. False when the job is no longer
    waiting (cancelled, or completed already)."""
    return db.execute(_ADOPT, {"job_id": job_id, "token": token, "worker": attempts.worker_name()}).first() is not None


# ------------------------------------------------------------------------------------ sweeper transition

WORKER_LOST = {"code": "worker_lost", "message": "the worker running this job stopped sending heartbeats"}


def rescue_stale(db: Session, stale_after_s: float, backoff_s: float = 2.0, backoff_max_s: float = 300.0
                 ) -> Sequence[Any]:
    """running → retrying for jobs whose heartbeat went stale: their worker process is gone or cut off.

    We cannot tell which of a dead process's jobs killed it, so none is charged the attempt; each counts a
    crash instead, comes back after a backoff that doubles per crash, and runs its next attempt alone
    (workers/sandbox.py). A job whose worker died under it `max_attempts` times is failed `worker_lost`.
    Rows: (id, status, account_id, kind, queue, delay_ms) — the caller sends each rescued job's delayed message.
    The attempt each one was running is recorded in the same transaction (attempts.record_lost).
    """
    now = func.now()
    exhausted = Job.crashes + 1 >= Job.max_attempts
    backoff = func.least(backoff_max_s, backoff_s * func.power(2, Job.crashes)) * text("interval '1 second'")
    rows = db.execute(
        update(Job)
        .where(Job.status == RUNNING, Job.heartbeat_at < now - timedelta(seconds=stale_after_s))
        .values(
            status=case((exhausted, FAILED), else_=RETRYING),
            finished_at=case((exhausted, now), else_=None),
            next_attempt_at=case((exhausted, None), else_=now + backoff),
            attempts=func.greatest(Job.attempts - 1, 0),
            crashes=Job.crashes + 1,
            dispatched_at=now,
            claim_token=None,
            error=WORKER_LOST,
            updated_at=now,
        )
        .returning(Job.id, Job.status, Job.account_id, Job.kind, Job.queue,
                   (func.extract("epoch", Job.next_attempt_at - now) * 1000).label("delay_ms"))
    ).all()
    attempts.record_lost(db, [r.id for r in rows])  # each rescued job's attempt ends `worker_lost`
    return rows


# ------------------------------------------------------------------------------- user and operator moves

# A recovery point saying an external write may already have happened (the note POST): such a job must
# finish, checking the PSA before it writes again. Cancelled, its write could be repeated by a later job.
IRREVOCABLE_STEPS = ("note_attempted",)
MAX_MANUAL_RETRIES = 3


def cancel(db: Session, job: Job) -> Job:
    """queued | retrying → cancelled. Running jobs finish (or fail) on their own. `job` is locked by the caller."""
    if not allowed(job.status, CANCELLED):
        raise Conflict("job_not_cancellable",
                       f"job is {job.status}; only {' or '.join(sources(CANCELLED))} jobs can be cancelled")
    if any(step in (job.steps or {}) for step in IRREVOCABLE_STEPS):
        raise Conflict("job_not_cancellable", "the job has already sent its note to the PSA (or may have); "
                       "it finishes on its own, so the note is never posted twice")
    cancel_where(db, Job.id == job.id)
    db.refresh(job)
    return job


def cancel_where(db: Session, *where: ColumnElement[bool]) -> list[uuid.UUID]:
    """queued | retrying → cancelled for every matching job (a batch's children); the ids cancelled.

    Jobs past an irrevocable step are left to finish (see `cancel`)."""
    return list(db.execute(
        update(Job)
        .where(and_(*where), Job.status.in_(sources(CANCELLED)),
               *(~Job.steps.has_key(step) for step in IRREVOCABLE_STEPS))
        .values(status=CANCELLED, finished_at=func.now(), next_attempt_at=None, claim_token=None,
                updated_at=func.now())
        .returning(Job.id)
    ).scalars())


def retry(db: Session, job: Job, *, via: str = "api", by: uuid.UUID | None = None, **moved: Any) -> Job:
    """failed → queued with a fresh attempt budget; recorded steps are kept so the work resumes after them.

    Manual: at most MAX_MANUAL_RETRIES per job, each recorded in `retries` ({at, by, via}). Refused while
    another active job holds the same dedupe key (it already does this work). `moved` may re-home the job
    (a batch adopting it: `batch_id`, `queue`). `job` is locked by the caller.
    """
    if not allowed(job.status, QUEUED):
        raise Conflict("job_not_retryable",
                       f"job is {job.status}; only {' or '.join(sources(QUEUED))} jobs can be retried")
    if len(job.retries or []) >= MAX_MANUAL_RETRIES:
        raise Conflict("retry_limit_reached",
                       f"job was already retried {MAX_MANUAL_RETRIES} times by hand; fix the cause and submit anew")
    holder = _dedupe_holder(db, job.dedupe_key) if job.dedupe_key else None  # (this job is failed: not a holder)
    if holder is not None:
        raise Conflict("job_superseded", f"job {holder.id} already does this work", extra={"job_id": str(holder.id)})
    db.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == FAILED)
        # next_attempt_at = now: due from this moment (the next attempt's queue wait counts from here).
        .values(status=QUEUED, attempts=0, finished_at=None, next_attempt_at=func.now(), claim_token=None,
                dispatched_at=func.now(), updated_at=func.now(), retries=Job.retries.op("||")(_retry_entry(by, via)),
                **moved)
    )
    db.refresh(job)
    return job


def _retry_entry(by: uuid.UUID | None, via: str) -> Any:
    stamp = func.to_char(func.now().op("AT TIME ZONE")("UTC"), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return func.jsonb_build_array(func.jsonb_build_object("at", stamp, "by", str(by) if by else None, "via", via))
