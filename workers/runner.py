"""Run one job: claim it, call its handler, record success, retry or failure, ring the next bell."""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.exc import InterfaceError, OperationalError

from db.engine import SYSTEM, tenant
from shared.errors import DomainError, JobError, PermanentError, TransientError
from shared.jobs import state_machine
from shared.jobs.notify import channel, publish_change
from shared.jobs.service import JobRef
from shared.metrics import add_job_finished
from shared.retry_policy import next_delay, should_retry
from workers.context import FencedOut, JobContext
from workers.delivery import claim_delivered, release_thread
from workers.resources import Resources

log = logging.getLogger(__name__)

Handler = Callable[[JobContext], dict[str, Any] | None]


def run_job(res: Resources, handler: Handler, job_id_s: str, account_id_s: str | None, *,
            kind: str | None = None) -> None:
    token = uuid.uuid4()
    job = claim_delivered(res, job_id_s, account_id_s, token, kind=kind)
    if job is None:
        return
    job_id = job.id
    scope = tenant(job.account_id) if job.account_id else SYSTEM  # from the row, never from the message
    publish_change(res.redis, res.namespace, job_id)
    ctx = JobContext(
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
    heartbeat = res.heartbeat
    if heartbeat is not None:
        heartbeat.add(token)
    started = time.monotonic()
    outcome = "succeeded"
    try:
        result = handler(ctx)
        if not ctx.completed:  # the handler wrote nothing else: completion is one statement, one round trip
            if not state_machine.succeed_now(res.engine, scope, job_id, token, result or {}):
                raise FencedOut(str(job_id))
            ctx.completed = True
    except FencedOut:
        log.warning("job %s: claim lost while running; leaving the row to its new owner", job_id)
        return
    except JobError as err:
        outcome = _record_failure(ctx, err)
    except DomainError as err:  # a domain rule met inside a job (e.g. its session was deleted): permanent
        outcome = _record_failure(ctx, PermanentError.of(err))
    except (OperationalError, InterfaceError) as exc:  # connection-level: the database will be back
        outcome = _record_failure(ctx, TransientError("database_unavailable", f"database error: {type(exc).__name__}"))
    except Exception as exc:
        log.exception("job %s (%s) raised", job_id, job.kind)
        outcome = _record_failure(ctx, TransientError("internal_error", f"unexpected {type(exc).__name__}"))
    finally:
        if heartbeat is not None:
            heartbeat.discard(token)
        release_thread(res, token)
    wait = (job.started_at - job.created_at).total_seconds() if job.attempts == 1 and job.started_at else None
    # One round trip: wake the long-polls and count the job. Best effort, like every notification.
    pipe = res.redis.pipeline(transaction=False)
    pipe.publish(channel(res.namespace, job_id), b"1")
    add_job_finished(pipe, res.namespace, kind=job.kind, status=outcome, duration_s=time.monotonic() - started,
                     wait_s=wait)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("job %s: change notification and metrics not sent: %s", job_id, exc)


def _record_failure(ctx: JobContext, err: JobError) -> str:
    settings = ctx.resources.settings
    error = {"code": err.code, "message": err.message, "detail": err.detail}
    retry = should_retry(transient=err.transient, attempts=ctx.attempt, max_attempts=ctx.max_attempts)
    delay = next_delay(ctx.attempt, retry_after=getattr(err, "retry_after", None),
                       base=settings.flowpilot_backoff_base_s, cap=settings.flowpilot_backoff_max_s)
    with ctx.tx() as db:
        if retry:
            moved = state_machine.retry_later(db, ctx.job_id, ctx.claim_token, error, delay)
        else:
            moved = state_machine.fail(db, ctx.job_id, ctx.claim_token, error)
    if not moved:
        return "fenced"
    log.info("job %s %s: %s (%s)", ctx.job_id, "retrying" if retry else "failed", err.code, err.message)
    if retry:
        ref = JobRef(ctx.job_id, ctx.account_id, ctx.kind, ctx.queue, int(delay * 1000))
        ctx.resources.dispatcher.send([ref])
    return "retrying" if retry else "failed"

