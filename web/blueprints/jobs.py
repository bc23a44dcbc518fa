"""Job endpoints: submit the diagnostic echo, poll (ETag, long-poll), cancel, retry."""
from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import Field
from sqlalchemy import Row

from db.models import Job
from shared import limits
from shared.errors import PermissionDenied, not_found
from shared.jobs import state_machine
from shared.jobs.attempts import attempt_to_dict, attempts_of
from shared.jobs.notify import MAX_WAIT_S, ChangeWaiter
from shared.jobs.oneshots import read_job
from shared.jobs.serialize import job_etag, job_to_dict
from shared.jobs.service import JobRef, create_job
from shared.jobs.state_machine import insert_job
from shared.lookup import fetch
from web.auth import ADMIN_UP, ENGINEER_UP, L1_UP, principal, require
from web.db import db, dispatch_after_commit, end_transaction, notify_after_commit, request_scope
from web.idempotency import idempotency_key
from web.openapi import doc
from web.state import state
from web.submit import accepted, submit
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")

BATCH_EXPAND = "batch.expand"


class JobCreate(Strict):
    kind: Literal["system.echo"]
    payload: dict[str, Any] = Field(default_factory=dict)
    delay_ms: int = Field(default=0, ge=0, le=60_000, description=(
        f"diagnostic sleep; tenant admins up to {limits.MAX_TENANT_ECHO_DELAY_MS} ms, operators up to 60000"))
    fail_attempts: int = Field(default=0, ge=0, le=10, description="diagnostic: fail the first N attempts")
    fail_permanently: bool = Field(default=False, description="diagnostic: fail without retrying")
    retry_after_s: float | None = Field(default=None, ge=0, le=3600)
    crash_worker: Literal["sigkill", "segfault"] | None = Field(
        default=None, description="diagnostic, operators only: the job kills the worker process it runs in")


class JobWait(Strict):
    wait: int = Field(default=0, ge=0, le=MAX_WAIT_S)


def job_response(body: dict[str, Any], etag: str, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


def load_job(job_id: uuid.UUID, *, for_update: bool = False) -> Job:
    return fetch(db(), Job, job_id, what="job", for_update=for_update)


@bp.post("")
@require(*ADMIN_UP, operator=True)
@doc("Submit a diagnostic system.echo job", body=JobCreate, status=202)
def create() -> Any:
    body = parse_body(JobCreate)
    p = principal()
    cap = limits.MAX_TENANT_ECHO_DELAY_MS
    if not p.is_operator and body.delay_ms > cap:  # the sleep holds a worker thread
        raise limits.too_large("validation_failed", "delay_ms", f"delay_ms is at most {cap} for tenant users", cap)
    if body.crash_worker and not p.is_operator:
        raise PermissionDenied("forbidden", "only platform operators may submit a job that kills its worker")
    options = body.model_dump(exclude={"kind", "payload"})
    payload = {"payload": body.payload, "_options": options}
    if idempotency_key() is None:  # the common case: one statement, committed in one round trip
        # The request's own transaction ends first: no connection is held while taking another, and once the
        # job has committed nothing is left whose failure could make us answer "nothing was written".
        end_transaction()
        row = insert_job(state().engine, request_scope(), account_id=p.account_id, kind=body.kind, payload=payload,
                         created_by=p.user_id)
        dispatch_after_commit(JobRef.of(row))
        return accepted(row)

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        return create_job(db(), account_id=p.account_id, kind=body.kind, payload=payload, created_by=p.user_id,
                          idempotency_key=key, fingerprint=fingerprint)

    return accepted(submit(make))


@bp.get("/<uuid:job_id>")
@require(*L1_UP, operator=True)
@doc("Get a job; ETag/If-None-Match and ?wait=N long-poll", query=JobWait)
def get(job_id: uuid.UUID) -> Any:
    wait = parse_query(JobWait).wait
    if_none_match = request.headers.get("If-None-Match")
    st = state()
    # A token lookup that missed the cache left the request's session holding a connection; the reads below are
    # one-shot statements on their own connections. Holding one while waiting for another deadlocks the pool once
    # enough requests do it at once (under gevent nothing bounds how many), so give it back first.
    end_transaction()
    # Subscribe before the first read, so a change committed in between is never missed.
    waiter = st.waiters.waiter(job_id) if wait else None
    try:
        scope = request_scope()
        job = read_job(st.engine, scope, job_id)
        if job is None:
            raise not_found("job")
        body = job_to_dict(job)
        etag = job_etag(body)
        if waiter is not None and (if_none_match is None or if_none_match == etag) and job.status not in state_machine.TERMINAL:
            end_transaction()  # park holding a greenlet and a socket, never a database connection
            slot = st.wait_cap.take(principal().token_id or principal().user_id, wait)  # or 429 too_many_waits
            try:
                job = _wait_for_change(waiter, job_id, scope, if_none_match or etag, wait) or job
            finally:
                st.wait_cap.give_back(slot)
            body = job_to_dict(job)
            etag = job_etag(body)
    finally:
        if waiter is not None:
            waiter.close()
    if if_none_match is not None and if_none_match == etag:
        response = Response(status=304)
        response.headers["ETag"] = etag
        return response
    return job_response(body, etag)


@bp.get("/<uuid:job_id>/attempts")
@require(*L1_UP, operator=True)
@doc("Every recorded attempt of a job, oldest first: times, outcome, error, the step it reached")
def attempts(job_id: uuid.UUID) -> Any:
    job = load_job(job_id)  # the tenant's own jobs only (row-level security): another tenant's id is a 404
    operator = principal().is_operator
    return jsonify({"items": [attempt_to_dict(a, operator=operator) for a in attempts_of(db(), job.id)]})


def _wait_for_change(waiter: ChangeWaiter, job_id: uuid.UUID, scope: Any, baseline: str, wait_s: int) -> Row[Any] | None:
    """Wait for notifications until the job's visible state differs from `baseline` or time runs out.

    Each re-read is its own one-round-trip transaction, only after a notification (or at the deadline).
    """
    engine = state().engine
    deadline = time.monotonic() + wait_s
    latest: Row[Any] | None = None
    while True:
        notified = waiter.wait(deadline)
        latest = read_job(engine, scope, job_id)
        if latest is None or not notified or job_etag(job_to_dict(latest)) != baseline:
            return latest


def may_act_on(job: Job) -> Job:
    """Who may cancel or retry what: writebacks and the rest engineer and above, `batch.expand` admin and above,
    an `l1` user only the L1 jobs they created (operators anything, through the system scope)."""
    p = principal()
    if p.is_operator or p.role in (ADMIN_UP if job.kind == BATCH_EXPAND else ENGINEER_UP):
        return job
    if p.role == "l1" and job.kind.startswith("l1.") and job.created_by == p.user_id:
        return job
    raise PermissionDenied("forbidden", f"your role ({p.role}) may not cancel or retry this {job.kind} job")


@bp.post("/<uuid:job_id>/cancel")
@require(*L1_UP, operator=True)
@doc("Cancel a queued or retrying job (not a writeback whose note may already be on the ticket)")
def cancel(job_id: uuid.UUID) -> Any:
    job = state_machine.cancel(db(), may_act_on(load_job(job_id, for_update=True)))
    notify_after_commit(job.id)
    body = job_to_dict(job)
    return job_response(body, job_etag(body))


@bp.post("/<uuid:job_id>/retry")
@require(*L1_UP, operator=True)
@doc("Retry a failed job (recorded steps are kept; at most 3 manual retries per job)", status=202)
def retry(job_id: uuid.UUID) -> Any:
    job = state_machine.retry(db(), may_act_on(load_job(job_id, for_update=True)), via="api", by=principal().user_id)
    dispatch_after_commit(JobRef.of(job))
    return accepted(job)

