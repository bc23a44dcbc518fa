"""The unit of work (jobs), what preview jobs produce, and batches of jobs."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantRow, created_at, pk, updated_at

# The statuses and their transitions live in shared/jobs/state_machine.py; the CHECK below is their schema.


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued','running','retrying','succeeded','failed','cancelled')", name="status"
        ),
        CheckConstraint("queue IN ('interactive','batch')", name="queue"),
        # Dedupe: at most one active job per key (identical previews, one writeback per session).
        Index(
            "uq_jobs_active_dedupe",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL AND status IN ('queued','running','retrying')"),
        ),
        # Idempotency-Key replays are looked up per caller. NULLS NOT DISTINCT: operators' jobs have no account.
        Index(
            "uq_jobs_idempotency",
            "account_id",
            "created_by",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
            postgresql_nulls_not_distinct=True,
        ),
        # Sweeper: overdue queued/retrying jobs and running jobs with stale heartbeats.
        Index(
            "ix_jobs_sweep_pending",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued','retrying')"),
        ),
        Index("ix_jobs_sweep_running", "heartbeat_at", postgresql_where=text("status = 'running'")),
        # Sweeper: waiting jobs whose message was checked (or sent) longest ago come first.
        Index("ix_jobs_sweep_dispatched", "dispatched_at", "id",
              postgresql_where=text("status IN ('queued','retrying')")),
        Index("ix_jobs_account_created", "account_id", "created_at", "id"),
        Index("ix_jobs_status_kind", "status", "kind"),
        Index("ix_jobs_session", "session_id", "created_at"),
        Index("ix_jobs_batch_status", "batch_id", "status"),
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_status_created", "status", "created_at", "id"),
        Index("ix_jobs_session_kind_status", "session_id", "kind", "status"),
        # Ops stats (shared/jobs/stats.py): jobs finished in the last hour, read from the index alone.
        Index("ix_jobs_finished_stats", "finished_at", postgresql_include=["kind", "status", "account_id"],
              postgresql_where=text("finished_at IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = pk()
    # NULL only for platform jobs an operator submits (visible in the system scope alone).
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(16), default="interactive", server_default="interactive")
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    next_attempt_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    progress: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    # Manual retries, each {at, by, via}: bounded per job (state_machine.MAX_MANUAL_RETRIES).
    retries: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    # Worker processes that died while running it; a suspect's next attempt runs alone (workers/sandbox.py).
    crashes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[uuid.UUID | None]
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ai_sessions.id", ondelete="SET NULL"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    # The attempt in flight (set by the claim): when it started, when it had become due, which process runs it.
    # The transition that ends the attempt copies them into job_attempts (shared/jobs/attempts.py).
    attempt_started_at: Mapped[datetime | None]
    attempt_due_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))


# The jobs table for Core statements on the worker's hot path (claim, fenced updates): they skip
# the ORM bulk-update machinery, which was half of the worker's CPU per job.
jobs_table = cast(Table, Job.__table__)


ATTEMPT_OUTCOMES = ("succeeded", "failed", "retrying", "worker_lost", "crashed")


class JobAttempt(Base):
    """One finished attempt of a job, written in the transaction of the transition that ended it.

    The newest ATTEMPTS_KEPT (shared/jobs/attempts.py) per job are kept. `number` counts every attempt the job
    ever had (manual retries and worker losses included), unlike `jobs.attempts`, which is the retry budget used.
    """

    __tablename__ = "job_attempts"
    __table_args__ = (
        UniqueConstraint("job_id", "number", name="uq_job_attempts_job_number"),
        CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in ATTEMPT_OUTCOMES)})", name="outcome"),
        # Ops stats: attempts that ended in the last hour, read from the index alone.
        Index("ix_job_attempts_finished_stats", "finished_at",
              postgresql_include=["kind", "outcome", "started_at", "due_at", "external_errors", "account_id"]),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # NULL with the job's (an operator's platform job): visible in the system scope alone, like the job.
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None]  # when the attempt could have started: queue wait = started_at - due_at
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[dict[str, Any] | None]
    retry_after_s: Mapped[float | None] = mapped_column(Float)  # what the remote asked for (Retry-After)
    next_attempt_at: Mapped[datetime | None]  # when the next attempt was due (retrying, worker_lost)
    step: Mapped[str | None] = mapped_column(String(64))  # the recovery point the job had reached
    external_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Preview(TenantRow, Base):
    """A generated draft, cached per (session, kind, state_version)."""

    __tablename__ = "previews"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "state_version", name="uq_previews_session_kind_version"),
        CheckConstraint("kind IN ('resolution_note','escalation_package')", name="kind"),
    )
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ai_sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    state_version: Mapped[int] = mapped_column(Integer)
    markdown: Mapped[str] = mapped_column(Text)
    generator: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    usage: Mapped[dict[str, Any] | None]
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    generated_at: Mapped[datetime] = created_at()


class Batch(TenantRow, Base):
    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(
            "status IN ('expanding','running','succeeded','failed','cancelled')", name="status"
        ),
        Index("ix_batches_account_created", "account_id", "created_at"),
    )
    action: Mapped[str] = mapped_column(String(64))
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), default="expanding", server_default="expanding")
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cursor: Mapped[str | None] = mapped_column(Text)
    # Sessions whose child could not be created or retried ({session_id, job_id, code}; the first SKIPPED_KEPT).
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    skipped_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    finished_at: Mapped[datetime | None]
    # Regeneration batches: `per_call` (one Messages call per child) or `message_batches` (the provider's
    # batch API, chosen at expansion); the cursor over children already grouped into provider batches.
    llm_mode: Mapped[str | None] = mapped_column(String(24))
    llm_cursor: Mapped[str | None] = mapped_column(Text)
