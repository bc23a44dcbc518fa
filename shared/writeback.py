"""Writeback commands: state rules at request time and the one-in-flight-per-session job."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AiSession, Job
from shared.errors import Conflict
from shared.jobs import state_machine
from shared.jobs.service import create_job

KIND = {"resolution_note": "writeback.resolution_note", "escalation_package": "writeback.escalation_package"}
# The seed's rules: resolve from anything not already resolved; escalate from anything not escalated
# (and not mid-request: requesting_escalation goes through the escalate path of the L1 hand-off).
ALLOWED_FROM = {
    "resolution_note": frozenset({"active", "paused", "requesting_escalation", "escalated"}),
    "escalation_package": frozenset({"active", "paused", "resolved"}),
}


def state_conflict(detail: str, **extra: Any) -> Conflict:
    return Conflict("session_state_conflict", detail, extra=extra or None)


def check_state(session: AiSession, kind: str) -> None:
    if session.status not in ALLOWED_FROM[kind]:
        raise state_conflict(f"session is {session.status}; cannot post the {kind.replace('_', ' ')}")


def summary_line(markdown: str, given: str | None) -> str:
    if given and given.strip():
        return given.strip()[:500]
    for line in markdown.strip().splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text[:500]
    return ""


# The recovery points that say a note was (or may have been) sent: a job superseding a failed or cancelled one
# starts from them, so it looks for that note before posting and never posts it twice.
NOTE_STEPS = ("note_attempted", "note_posted")


def request_writeback(
    db: Session,
    session: AiSession,
    kind: str,
    *,
    markdown: str,
    summary: str | None,
    user_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> Job:
    """Lock the session, enforce the state rules, and create the job (Conflict while another is in flight)."""
    check_state(session, kind)
    prior = db.execute(
        select(Job).where(Job.session_id == session.id, Job.kind == KIND[kind])
        .order_by(Job.created_at.desc()).limit(1)
    ).scalar_one_or_none()
    carried: dict[str, Any] = {}
    if prior is not None and prior.status in (state_machine.FAILED, state_machine.CANCELLED):
        carried = {step: prior.steps[step] for step in NOTE_STEPS if step in (prior.steps or {})}
        retries_left = len(prior.retries or []) < state_machine.MAX_MANUAL_RETRIES
        if "note_posted" in carried and prior.status == state_machine.FAILED and retries_left:
            # Its note is on the ticket: retrying resumes after it (a new job would carry it over just the same).
            raise state_conflict(
                f"writeback job {prior.id} already posted this note and then failed; "
                f"retry it with POST /api/v1/jobs/{prior.id}/retry",
                job_id=str(prior.id),
            )
    job, created = create_job(
        db,
        account_id=session.account_id,
        kind=KIND[kind],
        payload={"kind": kind, "markdown": markdown.strip(), "summary": summary_line(markdown, summary)},
        created_by=user_id,
        session_id=session.id,
        dedupe_key=f"writeback:{session.id}",
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        steps=carried,
    )
    if not created:
        raise state_conflict(f"writeback job {job.id} is already in flight for this session", job_id=str(job.id))
    return job
