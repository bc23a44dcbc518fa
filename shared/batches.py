"""Batches: admins reprocess many sessions at once on the `batch` queue, counted from their children.

Expansion pages through the matching sessions with a keyset cursor stored on the batch (resumable,
never all in memory) and creates each chunk's children in one transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from db.base import db_now
from db.models import AiSession, Batch, Job
from shared import limits
from shared.errors import DomainError, conflict
from shared.isotime import iso
from shared.jobs import state_machine
from shared.jobs.kinds import BATCH
from shared.jobs.service import JobRef, create_job
from shared.jobs.state_machine import NewJob, insert_jobs
from shared.lookup import fetch
from shared.pagination import decode_cursor, encode_cursor

ACTIONS = ("regenerate_resolution_note", "regenerate_escalation_package", "retry_failed_writebacks",
           "reverify_ticket_status")
CHILD_KIND = {
    "regenerate_resolution_note": "preview.resolution_note",
    "regenerate_escalation_package": "preview.escalation_package",
    "reverify_ticket_status": "writeback.reverify",
}
CHUNK = 500
WRITEBACK_KINDS = ("writeback.resolution_note", "writeback.escalation_package")


def create_batch(db: Session, *, account_id: uuid.UUID, action: str, flt: dict[str, Any],
                 user_id: uuid.UUID | None) -> tuple[Batch, Job]:
    """A new batch and its expansion job, within the tenant's bounds (active batches, sessions per batch)."""
    limits.lock_tenant(db, account_id, "batches")
    active = db.execute(select(func.count()).select_from(Batch).where(
        Batch.account_id == account_id, Batch.status.in_(("expanding", "running")))).scalar_one()
    if active >= limits.MAX_ACTIVE_BATCHES:
        raise limits.reached("batch_limit_reached", "active (expanding or running) batches per tenant",
                             limits.MAX_ACTIVE_BATCHES)
    cap = limits.MAX_BATCH_SESSIONS
    if count_matching(db, account_id, action, flt, cap + 1) > cap:
        raise limits.too_large("batch_too_large", "filter",
                               f"the filter matches more than {cap} sessions; a batch takes at most {cap}: narrow it "
                               "(status, updated_since, updated_before) or split it", cap)
    batch = Batch(id=uuid.uuid4(), account_id=account_id, action=action, filter=flt, status="expanding",
                  total=0, created_by=user_id)
    db.add(batch)
    db.flush()
    job, _ = create_job(db, account_id=account_id, kind="batch.expand", payload={"batch_id": str(batch.id)},
                        created_by=user_id, queue=BATCH, dedupe_key=f"batch.expand:{batch.id}")
    db.refresh(batch)
    return batch, job


def get_batch(db: Session, batch_id: uuid.UUID, *, for_update: bool = False) -> Batch:
    return fetch(db, Batch, batch_id, what="batch", code="batch_not_found", for_update=for_update)


def _sessions(batch: Batch) -> Any:
    return sessions_for(batch.action, batch.filter or {})


def count_matching(db: Session, account_id: uuid.UUID, action: str, flt: dict[str, Any], cap: int) -> int:
    """How many of the tenant's sessions the filter matches, counting no further than `cap`."""
    matching = sessions_for(action, flt).where(AiSession.account_id == account_id).limit(cap).subquery()
    return int(db.execute(select(func.count()).select_from(matching)).scalar_one())


def sessions_for(action: str, flt: dict[str, Any]) -> Any:
    stmt = select(AiSession.id, AiSession.created_at)
    if flt.get("session_ids"):
        stmt = stmt.where(AiSession.id.in_([uuid.UUID(s) for s in flt["session_ids"]]))
    if flt.get("status"):
        stmt = stmt.where(AiSession.status == flt["status"])
    if flt.get("updated_since"):
        stmt = stmt.where(AiSession.updated_at >= datetime.fromisoformat(flt["updated_since"]))
    if flt.get("updated_before"):
        stmt = stmt.where(AiSession.updated_at < datetime.fromisoformat(flt["updated_before"]))
    if action == "reverify_ticket_status":
        stmt = stmt.where(AiSession.status.in_(("resolved", "escalated")), AiSession.psa_ticket_id.is_not(None))
    if action == "retry_failed_writebacks":
        stmt = stmt.where(exists().where(Job.session_id == AiSession.id, Job.kind.in_(WRITEBACK_KINDS),
                                         Job.status == "failed"))
    return stmt


def expand_chunk(db: Session, batch: Batch, user_id: uuid.UUID | None,
                 park_until: datetime | None = None) -> tuple[list[JobRef], bool]:
    """Create the next chunk's children; returns (refs to dispatch after commit, finished?).

    `park_until`: regeneration children a provider batch will answer (shared/batch_llm.py) wait parked,
    so none is dispatched now.
    """
    stmt = _sessions(batch)
    if batch.cursor:
        at, last_id = decode_cursor(batch.cursor)
        stmt = stmt.where(tuple_(AiSession.created_at, AiSession.id) > tuple_(at, last_id))
    # Sessions created after the batch was accepted still stop at the bound.
    take = min(CHUNK, limits.MAX_BATCH_SESSIONS - batch.total)
    rows = db.execute(stmt.order_by(AiSession.created_at, AiSession.id).limit(take)).all() if take > 0 else []
    if not rows:
        return [], True
    ids = [r.id for r in rows]
    if batch.action == "retry_failed_writebacks":
        refs = _retry_writebacks(db, batch, ids)
    else:
        kind = CHILD_KIND[batch.action]
        payload: dict[str, Any] = {"force": True} if kind.startswith("preview.") else {}
        if kind.startswith("preview."):
            payload["kind"] = kind.split(".", 1)[1]
        if park_until is not None:
            payload["via"] = "message_batch"
        children = insert_jobs(db, [NewJob(kind=kind, account_id=batch.account_id, payload=payload, queue=BATCH,
                                           session_id=sid, batch_id=batch.id, created_by=user_id,
                                           not_before=park_until) for sid in ids])
        refs = [JobRef.of(job) for job, _ in children if park_until is None]
    batch.total += len(children) if batch.action in CHILD_KIND else len(refs)
    batch.cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return refs, len(rows) < take


def _retry_writebacks(db: Session, batch: Batch, session_ids: list[uuid.UUID]) -> list[JobRef]:
    """The latest writeback job of each session, when it failed, is retried as a child of the batch.

    One that cannot be retried (another active job already does that work, even one committed a moment ago;
    its manual retries are spent) is listed on the batch as skipped, and the expansion goes on.
    """
    newer = aliased(Job)
    latest_failed = db.execute(select(Job).where(
        Job.session_id.in_(session_ids), Job.kind.in_(WRITEBACK_KINDS), Job.status == state_machine.FAILED,
        ~exists().where(and_(newer.session_id == Job.session_id, newer.kind.in_(WRITEBACK_KINDS),
                             newer.created_at > Job.created_at)),
    ).with_for_update()).scalars().all()
    refs: list[JobRef] = []
    for job in latest_failed:
        try:
            with db.begin_nested():
                refs.append(JobRef.of(state_machine.retry(db, job, via="batch", by=batch.created_by,
                                                          batch_id=batch.id, queue=BATCH)))
        except DomainError as err:
            _skip(batch, job, err.code)
        except IntegrityError:  # an active job took the session's dedupe key between our check and our update
            _skip(batch, job, "job_superseded")
    return refs


SKIPPED_KEPT = 1000  # the first ones are listed; `skipped_total` counts them all


def _skip(batch: Batch, job: Job, code: str) -> None:
    if len(batch.skipped or []) < SKIPPED_KEPT:
        batch.skipped = [*(batch.skipped or []), {"session_id": str(job.session_id), "job_id": str(job.id),
                                                  "code": code}]
    batch.skipped_total += 1


def progress(db: Session, batch: Batch) -> dict[str, int]:
    counts = dict(db.execute(select(Job.status, func.count()).where(Job.batch_id == batch.id)
                             .group_by(Job.status)).all())
    done = {k: int(counts.get(k, 0)) for k in state_machine.TERMINAL}
    return {"total": batch.total, **done, "pending": max(0, batch.total - sum(done.values()))}


def cancel_batch(db: Session, batch: Batch) -> list[uuid.UUID]:
    """Stop queued children at once; running ones finish. Returns the cancelled child ids."""
    if batch.status in ("succeeded", "failed", "cancelled"):
        raise conflict("batch_finished", f"batch is already {batch.status}")
    batch.status = "cancelled"
    batch.finished_at = db_now()
    return state_machine.cancel_where(db, Job.batch_id == batch.id)


def finish_batches(db: Session) -> int:
    """Sweeper step: a running batch whose children are all terminal is done."""
    active = exists().where(Job.batch_id == Batch.id, Job.status.in_(state_machine.ACTIVE))
    return len(db.execute(
        update(Batch).where(Batch.status == "running", ~active)
        .values(status="succeeded", finished_at=func.now()).returning(Batch.id)
    ).all())


def mismatches(db: Session, batch: Batch, limit: int = 1000) -> list[dict[str, Any]]:
    rows = db.execute(
        select(Job.result).where(Job.batch_id == batch.id, Job.status == "succeeded",
                                 Job.result["matches"].as_boolean().is_(False)).limit(limit)
    ).scalars().all()
    return [r for r in rows if r]


FAILURES_LISTED = 200


def failures(db: Session, batch: Batch, limit: int = FAILURES_LISTED) -> list[dict[str, Any]]:
    """The batch's failed children with their error in words (the first `limit`, oldest first)."""
    rows = db.execute(select(Job.id, Job.session_id, Job.kind, Job.error, Job.finished_at, Job.retries)
                      .where(Job.batch_id == batch.id, Job.status == state_machine.FAILED)
                      .order_by(Job.finished_at, Job.id).limit(limit)).all()
    return [{"job_id": str(r.id), "session_id": str(r.session_id) if r.session_id else None, "kind": r.kind,
             "code": (r.error or {}).get("code"), "message": (r.error or {}).get("message"),
             "retries": len(r.retries or []), "finished_at": iso(r.finished_at)} for r in rows]


def retry_failed(db: Session, batch: Batch, user_id: uuid.UUID | None) -> tuple[list[JobRef], list[dict[str, Any]]]:
    """Every failed child back to `queued` (the normal path, per call); those that cannot be retried are listed."""
    if batch.status == "cancelled":
        raise conflict("batch_finished", "the batch was cancelled; start a new one")
    jobs = db.execute(select(Job).where(Job.batch_id == batch.id, Job.status == state_machine.FAILED)
                      .order_by(Job.id).limit(limits.MAX_BATCH_SESSIONS).with_for_update()).scalars().all()
    refs, refused = [], []
    for job in jobs:
        try:
            with db.begin_nested():
                if (job.payload or {}).get("via"):  # a provider batch already had its turn: per call now
                    job.payload = {k: v for k, v in job.payload.items() if k != "via"}
                    db.flush()
                refs.append(JobRef.of(state_machine.retry(db, job, via="batch", by=user_id)))
        except DomainError as err:
            refused.append({"job_id": str(job.id), "code": err.code, "message": str(err)})
    if refs and batch.status in ("succeeded", "failed"):
        batch.status, batch.finished_at = "running", None
    return refs, refused


def batch_to_dict(db: Session, batch: Batch, prices: Any = None) -> dict[str, Any]:
    from shared import batch_llm  # (it builds on this module)
    from shared.llm.pricing import Prices

    body: dict[str, Any] = {"id": str(batch.id), "action": batch.action, "status": batch.status,
                            "filter": batch.filter, **progress(db, batch),
                            "skipped_total": batch.skipped_total, "skipped": batch.skipped,
                            "created_at": iso(batch.created_at), "finished_at": iso(batch.finished_at)}
    if batch.action == "reverify_ticket_status":
        body["mismatches"] = mismatches(db, batch)
    body["failures"] = failures(db, batch) if body.get("failed") else []
    if batch.action in batch_llm.REGENERATE:
        body["llm"] = batch_llm.llm_to_dict(db, batch, prices or Prices())
    return body


def list_batches(db: Session, limit: int = 50) -> list[Batch]:
    """The tenant's latest batches (the request's tenant scope filters the rows)."""
    return list(db.execute(select(Batch).order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)).scalars())
