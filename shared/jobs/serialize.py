"""The public shape of a job (API.md) and its ETag."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Row

from db.models import Job
from shared.isotime import iso


def job_to_dict(job: Job | Row[Any]) -> dict[str, Any]:
    """Works on an entity or on a Core row of the jobs table (same attribute names)."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
        "session_id": str(job.session_id) if job.session_id else None,
        "batch_id": str(job.batch_id) if job.batch_id else None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "next_attempt_at": iso(job.next_attempt_at),
    }


def job_etag(body: dict[str, Any]) -> str:
    """A strong validator over everything a poller sees, so any visible change changes it."""
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return f'"{digest[:20]}"'
