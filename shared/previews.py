"""Preview cache per (session, kind, state_version) and the jobs that fill it."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import AiSession, Job, Preview
from shared.isotime import iso
from shared.jobs.service import create_job

KINDS = ("resolution_note", "escalation_package")
JOB_KIND = {"resolution_note": "preview.resolution_note", "escalation_package": "preview.escalation_package"}


def cached(db: Session, session_id: uuid.UUID, kind: str, state_version: int) -> Preview | None:
    return db.execute(
        select(Preview).where(
            Preview.session_id == session_id, Preview.kind == kind, Preview.state_version == state_version
        )
    ).scalar_one_or_none()


def request_preview(
    db: Session,
    session: AiSession,
    kind: str,
    *,
    user_id: uuid.UUID,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    queue: str | None = None,
    batch_id: uuid.UUID | None = None,
) -> tuple[Job, bool]:
    """One job per (session, kind, version): concurrent identical requests share it (dedupe key)."""
    return create_job(
        db,
        account_id=session.account_id,
        kind=JOB_KIND[kind],
        payload={"kind": kind, "requested_version": session.state_version},
        created_by=user_id,
        session_id=session.id,
        batch_id=batch_id,
        dedupe_key=f"preview:{kind}:{session.id}:{session.state_version}",
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        queue=queue,
    )


def store(db: Session, *, account_id: uuid.UUID, session_id: uuid.UUID, kind: str, state_version: int,
          markdown: str, generator: str, model: str | None, usage: dict[str, Any] | None,
          job_id: uuid.UUID | None, replace: bool = False) -> Preview:
    """Insert unless this version is already stored (a concurrent job won): either way return the row.

    `replace` (batch regeneration after a prompt change) overwrites the stored draft instead.
    """
    values = dict(markdown=markdown, generator=generator, model=model, usage=usage, job_id=job_id)
    stmt = insert(Preview).values(id=uuid.uuid4(), account_id=account_id, session_id=session_id, kind=kind,
                                  state_version=state_version, **values)
    if replace:
        db.execute(stmt.on_conflict_do_update(constraint="uq_previews_session_kind_version",
                                              set_={**values, "generated_at": func.now()}))
        db.expire_all()
    else:
        db.execute(stmt.on_conflict_do_nothing(constraint="uq_previews_session_kind_version"))
    row = cached(db, session_id, kind, state_version)
    assert row is not None
    return row


def preview_to_dict(p: Preview, *, cached_hit: bool) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "markdown": p.markdown,
        "state_version": p.state_version,
        "cached": cached_hit,
        "generated_at": iso(p.generated_at),
        "generator": p.generator,
        "model": p.model,
        "usage": p.usage,
    }
