"""Indexes for the operator queries: jobs newest-first across tenants, by kind and status.

Create Date: 2026-11-24
"""
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # GET /ops/jobs pages newest first across tenants, optionally by status or kind.
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at", "id"])
    # Writeback rules look up a session's failed writeback jobs; reverify its latest success.
    op.create_index("ix_jobs_session_kind_status", "jobs", ["session_id", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_session_kind_status", table_name="jobs")
    op.drop_index("ix_jobs_status_created", table_name="jobs")
    op.drop_index("ix_jobs_created", table_name="jobs")
