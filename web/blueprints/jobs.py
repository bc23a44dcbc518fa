"""Job endpoints: submit the diagnostic echo, poll (ETag, long-poll), cancel, retry."""
from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import Field
from sqlalchemy import select

from db.engine import transaction
from db.models import Job
from shared.errors import not_found
from shared.jobs.notify import ChangeWaiter
from shared.jobs.serialize import job_etag, job_to_dict
from shared.jobs.service import JobRef, cancel_job, create_job, get_job_for_update, retry_job
from web.auth import ADMIN_UP, L1_UP, principal, require
from web.db import db, dispatch_after_commit, notify_after_commit
from web.idempotency import replay_or_create
from web.openapi import doc
from web.state import state
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")

MAX_WAIT_S = 30


class JobCreate(Strict):
    kind: Literal["system.echo"]
    payload: dict[str, Any] = Field(default_factory=dict)
    delay_ms: int = Field(default=0, ge=0, le=60_000)
    fail_attempts: int = Field(default=0, ge=0, le=10, description="diagnostic: fail the first N attempts")
    fail_permanently: bool = Field(default=False, description="diagnostic: fail without retrying")
    retry_after_s: float | None = Field(default=None, ge=0, le=3600)


class JobWait(Strict):
    wait: int = Field(default=0, ge=0, le=MAX_WAIT_S)


def job_response(job: Job, status: int = 200) -> Response:
    body = job_to_dict(job)
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = job_etag(body)
    response.headers["Cache-Control"] = "no-cache"
    return response


def accepted(job: Job) -> tuple[Response, int]:
    return jsonify({"job": job_to_dict(job)}), 202


def load_job(job_id: uuid.UUID, *, for_update: bool = False) -> Job:
    session = db()
    job = get_job_for_update(session, job_id) if for_update else session.get(Job, job_id)
    if job is None:
        raise not_found("job")
    return job


@bp.post("")
@require(*ADMIN_UP, operator=True)
@doc("Submit a diagnostic system.echo job", body=JobCreate, status=202)
def create() -> Any:
    body = parse_body(JobCreate)
    p = principal()
    options = body.model_dump(exclude={"kind", "payload"})

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        return create_job(
            db(),
            account_id=p.account_id,
            kind=body.kind,
            payload={"payload": body.payload, "_options": options},
            created_by=p.user_id,
            idempotency_key=key,
            fingerprint=fingerprint,
        )

    job, created = replay_or_create(make)
    if created:
        dispatch_after_commit(JobRef.of(job))
    return accepted(job)


@bp.get("/<uuid:job_id>")
@require(*L1_UP, operator=True)
@doc("Get a job; ETag/If-None-Match and ?wait=N long-poll", query=JobWait)
def get(job_id: uuid.UUID) -> Any:
    wait = parse_query(JobWait).wait
    job = load_job(job_id)
    body = job_to_dict(job)
    etag = job_etag(body)
    if_none_match = request.headers.get("If-None-Match")
    if wait and (if_none_match is None or if_none_match == etag) and job.status not in ("succeeded", "failed", "cancelled"):
        job = _wait_for_change(job_id, if_none_match or etag, wait) or job
        body = job_to_dict(job)
        etag = job_etag(body)
    if if_none_match is not None and if_none_match == etag:
        response = Response(status=304)
        response.headers["ETag"] = etag
        return response
    return job_response(job)


def _wait_for_change(job_id: uuid.UUID, baseline: str, wait_s: int) -> Job | None:
    """Hold the request until the job's visible state differs from `baseline` or time runs out.

    Subscribes before re-reading, so a change committed in between is never missed; each re-read is
    its own short transaction (no connection sits idle in a transaction while we wait).
    """
    st = state()
    scope = db().info["scope"]
    deadline = time.monotonic() + wait_s
    latest: Job | None = None
    with ChangeWaiter(st.redis, st.namespace, job_id) as waiter:
        while True:
            with transaction(st.engine, scope) as session:
                latest = session.execute(select(Job).where(Job.id == job_id)).scalar_one_or_none()
            if latest is None or job_etag(job_to_dict(latest)) != baseline:
                return latest
            if not waiter.wait(deadline):
                return latest


@bp.post("/<uuid:job_id>/cancel")
@require(*L1_UP, operator=True)
@doc("Cancel a queued or retrying job")
def cancel(job_id: uuid.UUID) -> Any:
    job = cancel_job(db(), load_job(job_id, for_update=True))
    notify_after_commit(job.id)
    return job_response(job)


@bp.post("/<uuid:job_id>/retry")
@require(*L1_UP, operator=True)
@doc("Retry a failed job (recorded steps are kept)", status=202)
def retry(job_id: uuid.UUID) -> Any:
    job = retry_job(db(), load_job(job_id, for_update=True))
    dispatch_after_commit(JobRef.of(job))
    return accepted(job)

