"""A job's whole story for operators (GET /ops/jobs/{id}): payload with secrets redacted, result, recovery points,
attempts, manual retries as one timeline, links to its session and batch, its dedupe and idempotency keys."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from db.models import Job
from shared.isotime import iso
from shared.jobs.attempts import attempt_to_dict, attempts_of
from shared.jobs.serialize import job_to_dict
from shared.logging_setup import redact
from shared.rows import pick

REDACTED = "[redacted]"
# Keys whose values are credentials wherever they appear in a payload (PSA keys, tokens, passwords).
SECRET_KEY = re.compile(r"(?i)(secret|passw|token|api[_-]?key|private[_-]?key|public[_-]?key|authori[sz]ation|"
                        r"credential|cookie|signature)")
# Recovery points in the order a writeback reaches them; others (none yet) follow by name.
STEP_ORDER = ("note_attempted", "note_posted", "status_changed", "status_verified")


def redact_payload(value: Any) -> Any:
    """A copy with every value under a secret-looking key replaced, and token-shaped strings masked anywhere."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else redact_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_payload(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def recovery_points(steps: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The job's recorded steps as a list in the order they happen."""
    steps = steps or {}
    ordered = [s for s in STEP_ORDER if s in steps] + sorted(s for s in steps if s not in STEP_ORDER)
    out = []
    for name in ordered:
        data = steps[name] if isinstance(steps[name], dict) else {"value": steps[name]}
        at = data.get("posted_at") or data.get("at") or data.get("last_at")
        out.append({"name": name, "at": at, "data": redact_payload(data)})
    return out


def links(job: Job) -> dict[str, str | None]:
    """Where to look next: the job in the tenant API, its attempts, its batch (operators may read batches) and
    the session's page (for the tenant's engineers; operators see the session id)."""
    jid = str(job.id)
    return {
        "self": f"/api/v1/ops/jobs/{jid}",
        "attempts": f"/api/v1/jobs/{jid}/attempts",
        "console": f"/ops#job={jid}",
        "batch": f"/api/v1/batches/{job.batch_id}" if job.batch_id else None,
        "session_page": f"/app/sessions/{job.session_id}" if job.session_id else None,
    }


def timeline(job: Job, attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """created → dispatched → each attempt (started, ended) → manual retries → finished, oldest first."""
    events: list[dict[str, Any]] = [{"at": iso(job.created_at), "event": "created"}]
    for a in attempts:
        if a["started_at"]:
            events.append({"at": a["started_at"], "event": "attempt_started", "number": a["number"],
                           "worker": a.get("worker")})
        events.append({"at": a["finished_at"], "event": "attempt_ended", "number": a["number"],
                       "outcome": a["outcome"], "error": a["error"], "next_attempt_at": a["next_attempt_at"]})
    for r in job.retries or []:
        events.append({"at": r.get("at"), "event": "retried", "by": r.get("by"), "via": r.get("via")})
    if job.status == "running" and job.attempt_started_at is not None:
        events.append({"at": iso(job.attempt_started_at), "event": "attempt_started", "number": None,
                       "worker": job.worker, "running": True})
    if job.finished_at is not None and job.status in ("succeeded", "failed", "cancelled"):
        events.append({"at": iso(job.finished_at), "event": job.status})
    return sorted(events, key=lambda e: (_when(e["at"]), _RANK.get(e["event"], 5)))


_RANK = {"created": 0, "retried": 1, "attempt_started": 2, "attempt_ended": 3}
_NEVER = datetime.min.replace(tzinfo=UTC)


def _when(at: str | None) -> datetime:
    try:
        return datetime.fromisoformat(at) if at else _NEVER
    except ValueError:
        return _NEVER


def job_detail(db: Session, job: Job) -> dict[str, Any]:
    attempts = [attempt_to_dict(a, operator=True) for a in attempts_of(db, job.id)]
    body = {
        **job_to_dict(job),
        **pick(job, "account_id", "queue"),
        "payload": redact_payload(job.payload or {}),
        "steps": recovery_points(job.steps),
        **pick(job, "retries", "crashes", "dedupe_key", "idempotency_key", "created_by", "updated_at",
               "dispatched_at", "heartbeat_at", "worker"),
    }
    return {"job": body, "attempts": attempts, "timeline": timeline(job, attempts), "links": links(job)}
