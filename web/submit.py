"""The ending every job-creating view shares: replay or create the job, ring its doorbell after commit, 202."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from sqlalchemy import Row

from db.models import Job
from shared.jobs.serialize import job_to_dict
from shared.jobs.service import JobRef
from web.db import dispatch_after_commit
from web.idempotency import replay_or_create

Create = Callable[[str | None, str | None], tuple[Job, bool]]


def submit(create: Create) -> Job:
    """`create(idempotency_key, fingerprint)` unless the Idempotency-Key replays an earlier job; a job that is
    new (not a replay, not a dedupe holder) is enqueued once the request's transaction has committed."""
    job, created = replay_or_create(create)
    if created:
        dispatch_after_commit(JobRef.of(job))
    return job


def accepted(job: Job | Row[Any]) -> tuple[Response, int]:
    return jsonify({"job": job_to_dict(job)}), 202
