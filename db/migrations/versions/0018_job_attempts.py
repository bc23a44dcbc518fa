"""Attempt history: every finished attempt of a job in job_attempts; the attempt in flight on the job row;
indexes for the ops stats of the last hour.

Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrations import helpers

revision = "0018"
down_revision = "0016"

# Frozen: the tenant tables this revision adds (migrations never import moving code).
TENANT_TABLES = ("job_attempts",)


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing, whatever the size of jobs.
    op.add_column("jobs", sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("attempt_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(length=200), nullable=True))
    op.create_index("ix_jobs_finished_stats", "jobs", ["finished_at"], unique=False,
                    postgresql_include=["kind", "status", "account_id"],
                    postgresql_where=sa.text("finished_at IS NOT NULL"))
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("retry_after_s", sa.Float(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("external_errors", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("outcome IN ('succeeded', 'failed', 'retrying', 'worker_lost', 'crashed')",
                           name=op.f("ck_job_attempts_outcome")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_job_attempts_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_attempts_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_attempts")),
        sa.UniqueConstraint("job_id", "number", name="uq_job_attempts_job_number"),
    )
    op.create_index("ix_job_attempts_finished_stats", "job_attempts", ["finished_at"], unique=False,
                    postgresql_include=["kind", "outcome", "started_at", "due_at", "external_errors", "account_id"])
    helpers.enable_tenant_rls(TENANT_TABLES, helpers.TENANT_PREDICATE)


def downgrade() -> None:
    op.drop_index("ix_job_attempts_finished_stats", table_name="job_attempts")
    op.drop_table("job_attempts")
    op.drop_index("ix_jobs_finished_stats", table_name="jobs")
    op.drop_column("jobs", "worker")
    op.drop_column("jobs", "attempt_due_at")
    op.drop_column("jobs", "attempt_started_at")
