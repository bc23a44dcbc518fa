"""Run one job: claim it, call its handler, record success, retry or failure, ring the next bell."""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import Row
from sqlalchemy.exc import InterfaceError, OperationalError

from db.engine import SYSTEM, Scope, tenant
from shared.errors import DomainError, JobError, PermanentError, TransientError
from shared.jobs import state_machine
from shared.jobs.dispatch import consumed
from shared.jobs.notify import channel, publish_change
from shared.jobs.service import JobRef
from shared.metrics import add_job_finished
from shared.retry_policy import next_delay, should_retry
from workers.context import FencedOut, JobContext, Postpone
from workers.delivery import claim_delivered, release_thread
from workers.resources import Resources

log = logging.getLogger(__name__)

Handler = Callable[[JobContext], dict[str, Any] | None]
# A postponed job (no free slot, another owner's write in flight) is due again after this, doubling per wait.
POSTPONE_BASE_S, POSTPONE_MAX_S = 0.25, 8.0


def _taken(res: Resources, job_id_s: str) -> None:
    """This message is consumed: take the job off the sent set before anything (a deferral, an early
    delivery's remainder) sends it again, so the sweeper sees exactly the jobs whose message is lost."""
    pipe = res.redis.pipeline(transaction=False)
    consumed(pipe, res.namespace, job_id_s)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("job %.64s: sent mark not cleared: %s", job_id_s, exc)


def run_job(res: Resources, handler: Handler, job_id_s: str, account_id_s: str | None, *,
            kind: str | None = None) -> None:
    token = uuid.uuid4()
    _taken(res, job_id_s)
    job = claim_delivered(res, job_id_s, account_id_s, token, kind=kind)
    if job is None:  # dropped, deferred, early or a duplicate (workers/delivery.py says which)
        return
    scope = tenant(job.account_id) if job.account_id else SYSTEM  # from the row, never from the message
    publish_change(res.redis, res.namespace, job.id)
    try:
        if job.crashes:  # a worker process died under it before: its next attempt runs alone
            from workers.sandbox import run_isolated  # (the sandbox imports this module)

            run_isolated(res, job, scope, token)
            return
        execute(res, handler, job, scope, token)
    finally:
        release_thread(res, token)


def context_for(res: Resources, job: Row[Any], scope: Scope, token: uuid.UUID) -> JobContext:
    return JobContext(
        resources=res,
        job_id=job.id,
        account_id=job.account_id,
        kind=job.kind,
        scope=scope,
        claim_token=token,
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        payload=dict(job.payload or {}),
        steps=dict(job.steps or {}),
        session_id=job.session_id,
        batch_id=job.batch_id,
        queue=job.queue,
        created_by=job.created_by,
    )


def execute(res: Resources, handler: Handler, job: Row[Any], scope: Scope, token: uuid.UUID) -> None:
    """Run the handler of a job we hold and record how it ended (in this process, or alone in a sandbox)."""
    job_id = job.id
    ctx = context_for(res, job, scope, token)
    heartbeat = res.heartbeat
    if heartbeat is not None:
        heartbeat.add(token)
    started = time.monotonic()
    outcome = "succeeded"
    try:
        result = handler(ctx)
        if not ctx.completed:  # the handler wrote nothing else: completion is one statement, one round trip
            if not state_machine.succeed_now(res.engine, scope, job_id, token, result or {},
                                             external_errors=ctx.external_errors):
                raise FencedOut(str(job_id))
            ctx.completed = True
    except FencedOut:
        log.warning("job %s: claim lost while running; leaving the row to its new owner", job_id)
        return
    except Postpone as later:
        outcome = _postpone(ctx, job.error, later)
    except JobError as err:
        outcome = record_failure(ctx, err)
    except DomainError as err:  # a domain rule met inside a job (e.g. its session was deleted): permanent
        outcome = record_failure(ctx, PermanentError.of(err))
    except (OperationalError, InterfaceError) as exc:  # connection-level: the database will be back
        outcome = record_failure(ctx, TransientError("database_unavailable", f"database error: {type(exc).__name__}"))
    except Exception as exc:
        log.exception("job %s (%s) raised", job_id, job.kind)
        outcome = record_failure(ctx, TransientError("internal_error", f"unexpected {type(exc).__name__}"))
    finally:
        if heartbeat is not None:
            heartbeat.discard(token)
    wait = (job.started_at - job.created_at).total_seconds() if job.attempts == 1 and job.started_at else None
    finished(res, job_id, job.kind, outcome, time.monotonic() - started, wait)


def finished(res: Resources, job_id: uuid.UUID, kind: str, outcome: str, duration_s: float,
             wait_s: float | None = None) -> None:
    """One round trip: wake the long-polls and count the job. Best effort, like every notification."""
    pipe = res.redis.pipeline(transaction=False)
    pipe.publish(channel(res.namespace, job_id), b"1")
    add_job_finished(pipe, res.namespace, kind=kind, status=outcome, duration_s=duration_s, wait_s=wait_s)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("job %s: change notification and metrics not sent: %s", job_id, exc)


def _postpone(ctx: JobContext, previous: dict[str, Any] | None, wait: Postpone) -> str:
    """Back to `retrying`, due shortly (doubling while it keeps waiting for the same thing), attempt given back."""
    waits = 0
    if previous and previous.get("code") == wait.code:
        waits = int((previous.get("detail") or {}).get("waits", 0)) + 1
    delay = wait.delay_s if wait.delay_s is not None else (
        min(POSTPONE_MAX_S, POSTPONE_BASE_S * 2 ** min(waits, 8)) * random.uniform(0.75, 1.25))
    error = {"code": wait.code, "message": wait.message, "detail": {"waits": waits, "attempt_used": False}}
    with ctx.tx() as db:
        if not state_machine.postpone(db, ctx.job_id, ctx.claim_token, error, delay):
            return "fenced"
    log.debug("job %s postponed %.2fs: %s", ctx.job_id, delay, wait.code)
    ref = JobRef(ctx.job_id, ctx.account_id, ctx.kind, ctx.queue, int(delay * 1000))
    ctx.resources.dispatcher.deliver(ctx.resources.engine, [ref])
    return "postponed"


def record_failure(ctx: JobContext, err: JobError) -> str:
    settings = ctx.resources.settings
    error = {"code": err.code, "message": err.message, "detail": err.detail}
    retry = should_retry(transient=err.transient, attempts=ctx.attempt, max_attempts=ctx.max_attempts)
    retry_after = getattr(err, "retry_after", None)
    delay = next_delay(ctx.attempt, retry_after=retry_after,
                       base=settings.flowpilot_backoff_base_s, cap=settings.flowpilot_backoff_max_s)
    asked = float(retry_after) if retry_after is not None else None  # recorded with the attempt
    with ctx.tx() as db:
        if retry:
            moved = state_machine.retry_later(db, ctx.job_id, ctx.claim_token, error, delay, retry_after_s=asked,
                                              external_errors=ctx.external_errors)
        else:
            moved = state_machine.fail(db, ctx.job_id, ctx.claim_token, error, retry_after_s=asked,
                                       external_errors=ctx.external_errors)
    if not moved:
        return "fenced"
    log.info("job %s %s: %s (%s)", ctx.job_id, "retrying" if retry else "failed", err.code, err.message)
    if retry:
        ref = JobRef(ctx.job_id, ctx.account_id, ctx.kind, ctx.queue, int(delay * 1000))
        ctx.resources.dispatcher.deliver(ctx.resources.engine, [ref])
    return "retrying" if retry else "failed"
