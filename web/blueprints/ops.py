"""Operator endpoints (platform operators only, across tenants through the system scope)."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import Field, field_validator
from sqlalchemy import select

from db.models import Batch, Job
from shared import limits, ops
from shared.batches import batch_to_dict
from shared.errors import Invalid
from shared.jobs import state_machine
from shared.jobs.detail import job_detail
from shared.jobs.serialize import job_to_dict
from shared.jobs.service import JobRef
from shared.jobs.stats import Window, check_window, parse_span, stats
from web.auth import principal, require
from web.blueprints.jobs import load_job
from web.db import after_commit, db, dispatch_after_commit, notify_after_commit
from web.openapi import doc
from web.state import state
from web.validation import Strict, Timestamp, parse_body, parse_query

bp = Blueprint("ops", __name__, url_prefix="/api/v1/ops")

Status = Literal["queued", "running", "retrying", "succeeded", "failed", "cancelled"]


class JobMatch(Strict):
    """Which jobs an operator means: the filters shared by listing and the bulk actions."""

    status: Status | None = None
    kind: str | None = Field(default=None, max_length=64)
    account_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    since: Timestamp | None = None

    def to_filter(self, ids: list[uuid.UUID] | None = None) -> ops.JobFilter:
        return ops.JobFilter(status=self.status, kind=self.kind, account_id=self.account_id, since=self.since,
                             batch_id=self.batch_id, ids=ids)


class JobQuery(JobMatch):
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=limits.MAX_OPS_PAGE)


class BulkAction(JobMatch):
    ids: list[uuid.UUID] | None = Field(default=None, max_length=ops.BULK_LIMIT)


class BatchQuery(Strict):
    status: Literal["expanding", "running", "succeeded", "failed", "cancelled"] | None = None


class StatsQuery(Strict):
    window: str = Field(default="60m", max_length=16, description="how far back: 60m, 6h, 90s (at most 24h)")
    step: str = Field(default="1m", max_length=16, description="one point per step: 1m, 30s (at least 10s)")
    until: Timestamp | None = Field(default=None, description="the series ends at this time (default now)")

    @field_validator("window", "step")
    @classmethod
    def _span(cls, value: str) -> str:
        parse_span(value)
        return value


class PurgeBody(Strict):
    message_ids: list[str] | None = Field(default=None, max_length=ops.BULK_LIMIT)


def ops_job(job: Job) -> dict[str, Any]:
    return {**job_to_dict(job), "account_id": str(job.account_id) if job.account_id else None, "queue": job.queue,
            "retries": job.retries, "crashes": job.crashes}


@bp.get("/queues")
@require(operator=True)
@doc("Broker queue depths, job counts by status and kind, workers seen")
def queues() -> Any:
    st = state()
    return jsonify({
        "queues": ops.queue_stats(st.redis, st.namespace),
        "jobs": ops.job_counts(db()),
        "workers": ops.workers_seen(st.redis, st.namespace),
    })


@bp.get("/jobs")
@require(operator=True)
@doc("Jobs across tenants, newest first, filtered, cursor-paginated", query=JobQuery)
def jobs() -> Any:
    q = parse_query(JobQuery)
    rows, cursor = ops.list_jobs(db(), q.to_filter(), q.cursor, q.limit)
    return jsonify({"items": [ops_job(j) for j in rows], "next_cursor": cursor})


@bp.get("/jobs/<uuid:job_id>")
@require(operator=True)
@doc("One job's whole story: payload (secrets redacted), result, recovery points, attempts, timeline, links")
def job_one(job_id: uuid.UUID) -> Any:
    return jsonify(job_detail(db(), load_job(job_id)))


@bp.get("/stats")
@require(operator=True)
@doc("Per step and per kind: jobs finished by status, queue wait and run time p50/p95, external call errors",
     query=StatsQuery)
def job_stats() -> Any:
    q = parse_query(StatsQuery)
    window_s, step_s = parse_span(q.window), parse_span(q.step)
    errors = check_window(window_s, step_s)
    if errors:
        raise Invalid("validation_failed", "the window and step cannot be served: "
                      + "; ".join(f"{e['field']} {e['message']}" for e in errors), errors=errors)
    return jsonify(stats(db(), Window(window_s, step_s, q.until)))


@bp.post("/jobs/<uuid:job_id>/retry")
@require(operator=True)
@doc("Retry one failed job", status=202)
def retry_one(job_id: uuid.UUID) -> Any:
    job = state_machine.retry(db(), load_job(job_id, for_update=True), via="ops", by=principal().user_id)
    dispatch_after_commit(JobRef.of(job))
    notify_after_commit(job.id)
    return jsonify({"job": ops_job(job)}), 202


@bp.post("/jobs/<uuid:job_id>/cancel")
@require(operator=True)
@doc("Cancel one queued or retrying job")
def cancel_one(job_id: uuid.UUID) -> Any:
    job = state_machine.cancel(db(), load_job(job_id, for_update=True))
    notify_after_commit(job.id)
    return jsonify({"job": ops_job(job)})


def _bulk(action: str) -> Any:
    body = parse_body(BulkAction)
    done, skipped = ops.bulk(db(), body.to_filter(body.ids), action, by=principal().user_id)
    if action == "retry":
        dispatch_after_commit(*(JobRef.of(j) for j in done))
    notify_after_commit(*(j.id for j in done))
    return jsonify({"affected": len(done), "ids": [str(j.id) for j in done], "skipped": skipped})


@bp.post("/jobs/retry")
@require(operator=True)
@doc("Retry every failed job matching the filter", body=BulkAction)
def retry_bulk() -> Any:
    return _bulk("retry")


@bp.post("/jobs/cancel")
@require(operator=True)
@doc("Cancel every queued/retrying job matching the filter", body=BulkAction)
def cancel_bulk() -> Any:
    return _bulk("cancel")


@bp.get("/batches")
@require(operator=True)
@doc("The newest 50 batches across tenants, with progress counted from their children", query=BatchQuery)
def batches() -> Any:
    q = parse_query(BatchQuery)
    stmt = select(Batch).order_by(Batch.created_at.desc(), Batch.id.desc()).limit(50)
    if q.status:
        stmt = stmt.where(Batch.status == q.status)
    rows = db().execute(stmt).scalars().all()
    return jsonify({"items": [{**batch_to_dict(db(), b), "account_id": str(b.account_id)} for b in rows]})


@bp.get("/dead-letters")
@require(operator=True)
@doc("Dead-lettered broker messages with the job each one belongs to")
def dead_letters() -> Any:
    st = state()
    return jsonify({"items": ops.dead_letters(st.redis, st.namespace)})


@bp.post("/dead-letters/requeue")
@require(operator=True)
@doc("Requeue dead letters through their job rows, then drop the dead messages")
def requeue() -> Any:
    st = state()
    refs, message_ids = ops.requeue_dead_letters(db(), st.redis, st.namespace, by=principal().user_id)
    dispatch_after_commit(*refs)
    after_commit(lambda: ops.purge_dead_letters(st.redis, st.namespace, message_ids))
    return jsonify({"requeued": len(refs), "removed": len(message_ids)})


@bp.post("/dead-letters/purge")
@require(operator=True)
@doc("Delete dead-lettered messages (all, or the listed ids)", body=PurgeBody)
def purge() -> Any:
    body = parse_body(PurgeBody)
    st = state()
    return jsonify({"removed": ops.purge_dead_letters(st.redis, st.namespace, body.message_ids)})
