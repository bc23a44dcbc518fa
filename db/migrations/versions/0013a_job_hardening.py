"""Job hardening: manual retries and worker crashes recorded on the job, skipped batch children, the
sweeper's index, operator Idempotency-Keys unique although their account is NULL.

Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013a"
down_revision = "0003"

_KEY_WHERE = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    # Each manual retry ({at, by, via}); bounded per job (shared/jobs/state_machine.py MAX_MANUAL_RETRIES).
    op.add_column("jobs", sa.Column("retries", postgresql.JSONB(astext_type=sa.Text()),
                                    server_default=sa.text("'[]'::jsonb"), nullable=False))
    # Worker processes that died while running the job (the sweeper counts them; see workers/sandbox.py).
    op.add_column("jobs", sa.Column("crashes", sa.Integer(), server_default="0", nullable=False))
    # Children a batch could not take on (e.g. another active job already does that work), and how many.
    op.add_column("batches", sa.Column("skipped", postgresql.JSONB(astext_type=sa.Text()),
                                       server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column("batches", sa.Column("skipped_total", sa.Integer(), server_default="0", nullable=False))
    # The sweeper checks waiting jobs in the order their message was sent, resuming where it stopped.
    op.create_index("ix_jobs_sweep_dispatched", "jobs", ["dispatched_at", "id"],
                    postgresql_where=sa.text("status IN ('queued','retrying')"))
    # Operators' jobs have no account: with NULLs distinct, their keys were never unique.
    op.drop_index("uq_jobs_idempotency", table_name="jobs", postgresql_where=_KEY_WHERE)
    op.create_index("uq_jobs_idempotency", "jobs", ["account_id", "created_by", "idempotency_key"], unique=True,
                    postgresql_where=_KEY_WHERE, postgresql_nulls_not_distinct=True)


def downgrade() -> None:
    op.drop_index("uq_jobs_idempotency", table_name="jobs", postgresql_where=_KEY_WHERE)
    op.create_index("uq_jobs_idempotency", "jobs", ["account_id", "created_by", "idempotency_key"], unique=True,
                    postgresql_where=_KEY_WHERE)
    op.drop_index("ix_jobs_sweep_dispatched", table_name="jobs",
                  postgresql_where=sa.text("status IN ('queued','retrying')"))
    op.drop_column("batches", "skipped_total")
    op.drop_column("batches", "skipped")
    op.drop_column("jobs", "crashes")
    op.drop_column("jobs", "retries")
