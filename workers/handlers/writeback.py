"""writeback.resolution_note / writeback.escalation_package, with recovery points in `steps`.

note_attempted → note_posted (id recorded before anything else) → status_changed → status_verified →
session updated. A note an earlier attempt may have left is looked for on the ticket and adopted, never posted
twice (shared/note_adoption.py); a job that supersedes a failed one starts from its recovery points
(shared/writeback.py).
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from db.base import db_now
from db.models import AccountSettings, AiSession, PsaConnection
from shared.errors import PermanentError
from shared.isotime import iso
from shared.jobs.notify import publish_change
from shared.note_adoption import NoteAttempt, content_key, find_posted, watermark_of
from shared.psa.base import PsaProvider
from shared.writeback import ALLOWED_FROM
from workers.context import JobContext

TARGET = {"resolution_note": ("resolved", "cw_resolved_status_id"), "escalation_package": ("escalated", "cw_escalated_status_id")}
COLUMNS = {
    "resolution_note": ("resolution_note_markdown", "resolution_note_posted_at", "resolution_note_external_id"),
    "escalation_package": ("escalation_package_markdown", "escalation_package_posted_at", "escalation_package_external_id"),
}
VERIFY_DELAYS_S = (0.0, 0.5, 1.0)  # a short, bounded re-check: some PSAs apply workflow rules async


def coerce_status_id(raw: Any) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def _step(ctx: JobContext, name: str, data: dict[str, Any], db: Any = None) -> None:
    """Record a recovery point and show it to pollers as `progress.step` (one transaction for both).

    Without `db` it commits and wakes long-polls itself; with `db` the caller does both after its commit.
    """
    if db is None:
        with ctx.tx() as own:
            _step(ctx, name, data, own)
        _announce(ctx)
        return
    ctx.record_step(name, data, db)
    ctx.set_progress({"step": name}, db)


def _announce(ctx: JobContext) -> None:
    publish_change(ctx.resources.redis, ctx.resources.namespace, ctx.job_id)


def _finish(ctx: JobContext, kind: str, result: dict[str, Any], *, local_markdown: str | None = None) -> dict[str, Any]:
    status, _ = TARGET[kind]
    with ctx.tx() as db:
        session = db.get(AiSession, ctx.session_id, with_for_update=True)
        assert session is not None
        if local_markdown is not None:
            setattr(session, COLUMNS[kind][0], local_markdown)
        session.status = status
        if kind == "resolution_note":
            session.resolved_at = db_now()
            session.resolution_summary = ctx.payload.get("summary") or None
        else:
            session.escalation_reason = ctx.payload.get("summary") or None
        session.updated_at = db_now()
        result["session_status"] = status
        ctx.complete(db, result)
    return result


def run(ctx: JobContext) -> dict[str, Any]:
    kind = ctx.payload["kind"]
    markdown = ctx.payload["markdown"]
    with ctx.tx() as db:
        session = db.get(AiSession, ctx.session_id)
        if session is None:
            raise PermanentError("session_not_found", "the session no longer exists")
        if "note_posted" not in ctx.steps and session.status not in ALLOWED_FROM[kind]:
            raise PermanentError("session_state_conflict", f"session is {session.status}")
        conn = db.get(PsaConnection, session.psa_connection_id) if session.psa_connection_id else None
        ticket_id = session.psa_ticket_id
        settings = db.get(AccountSettings, session.account_id)
        prefs = dict(settings.preferences) if settings else {}
        known_ids = {i for i in (session.resolution_note_external_id, session.escalation_package_external_id) if i}
    if not ticket_id or conn is None:
        return _finish(ctx, kind, {"outcome": f"{TARGET[kind][0]}_local", "external_id": None, "posted_at": None,
                                   "verified_status_id": None, "verified_status_name": None,
                                   "status_transition_skipped_reason": "session has no linked PSA ticket"},
                       local_markdown=markdown)
    if not conn.is_active:
        raise PermanentError("psa_connection_inactive", "the session's PSA connection is deactivated")
    with ctx.slot("psa"):
        return _external(ctx, kind, conn, ticket_id, markdown, prefs, known_ids)


def _external(ctx: JobContext, kind: str, conn: PsaConnection, ticket_id: str, markdown: str,
              prefs: dict[str, Any], known_ids: set[str]) -> dict[str, Any]:
    provider = ctx.psa(conn)
    posted = ctx.steps.get("note_posted") or _post_note(ctx, provider, kind, ticket_id, markdown, known_ids)
    result: dict[str, Any] = {
        "outcome": TARGET[kind][0],
        "external_id": posted["external_id"],
        "posted_at": posted["posted_at"],
        "verified_status_id": None,
        "verified_status_name": None,
        "status_transition_skipped_reason": None,
    }
    key = TARGET[kind][1]
    target = coerce_status_id(prefs.get(key))
    if target is None:
        why = "not configured" if prefs.get(key) is None else "not an integer"
        result["status_transition_skipped_reason"] = f"{key} is {why} in account settings; note posted, status unchanged"
        return _finish(ctx, kind, result)
    verified = ctx.steps.get("status_verified") or _transition(ctx, provider, ticket_id, target)
    result["verified_status_id"], result["verified_status_name"] = verified["id"], verified["name"]
    return _finish(ctx, kind, result)


def _post_note(ctx: JobContext, provider: PsaProvider, kind: str, ticket_id: str, markdown: str,
               known_ids: set[str]) -> dict[str, Any]:
    """Post the session's note once. Only one owner at a time may look and post (a worker whose claim was taken
    over mid-POST still holds the lock until its POST ends); what an earlier attempt may have left is adopted."""
    with ctx.exclusive(f"note:{ctx.session_id}:{kind}"):
        step = ctx.steps.get("note_attempted")
        if step is not None:  # an earlier attempt (ours, or the job's we supersede) may have reached the PSA
            attempt = NoteAttempt.from_step(step)
            found = find_posted(provider.list_notes(ticket_id), attempt, kind, known_ids)
            if found is not None:
                return _record_note(ctx, kind, found.text, found.id, found.created_at, adopted=True)
        else:  # the session's first attempt: which notes were there before it, so none of them is ever adopted
            attempt = NoteAttempt.first(watermark_of(provider.list_notes(ticket_id)))
        # Fenced: if our claim is gone, nothing is sent.
        _step(ctx, "note_attempted", attempt.sending(content_key(markdown)).to_step())
        note = provider.post_note(
            ticket_id, markdown, internal=kind == "escalation_package", resolution=kind == "resolution_note"
        )
        return _record_note(ctx, kind, markdown, note.id, note.created_at, adopted=False)


def _record_note(ctx: JobContext, kind: str, markdown: str, note_id: str, created: datetime | None,
                 *, adopted: bool) -> dict[str, Any]:
    """The note exists on the ticket: record it on the job and the session before anything else."""
    posted_at = created or datetime.now(UTC)
    step = {"external_id": str(note_id), "posted_at": iso(posted_at), "adopted": adopted}
    md_col, at_col, id_col = COLUMNS[kind]
    with ctx.tx() as db:
        session = db.get(AiSession, ctx.session_id, with_for_update=True)
        assert session is not None
        setattr(session, md_col, markdown)
        setattr(session, at_col, posted_at)
        setattr(session, id_col, str(note_id))
        _step(ctx, "note_posted", step, db)
    _announce(ctx)
    return step


def _transition(ctx: JobContext, provider: PsaProvider, ticket_id: str, target: int) -> dict[str, Any]:
    current = provider.get_ticket(ticket_id)
    if current.status_id != target:
        provider.update_ticket_status(ticket_id, target)
        _step(ctx, "status_changed", {"requested_status_id": target, "at": datetime.now(UTC).isoformat()})
    observed = current
    for delay in VERIFY_DELAYS_S:
        if delay:
            time.sleep(delay)
        observed = provider.get_ticket(ticket_id)  # only a re-fetch tells the truth
        if observed.status_id == target:
            verified = {"id": observed.status_id, "name": observed.status_name}
            _step(ctx, "status_verified", verified)
            return verified
    raise PermanentError(
        "status_verification_failed",
        f"ticket {ticket_id} still shows status {observed.status_id} ({observed.status_name}) after asking for {target}",
        detail={"expected_status_id": target, "observed": {"id": observed.status_id, "name": observed.status_name}},
    )


