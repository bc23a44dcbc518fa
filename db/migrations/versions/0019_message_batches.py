"""Message Batches for regeneration batches: provider batches per batch, the batch's LLM mode and cursor.

Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from db.migrations import helpers
from db.migrations.helpers import fk, jsonb, moments, tenant_table, timestamps, uuid

revision = "0019"
down_revision = "0018"

# Frozen: the tenant tables this revision adds (migrations never import moving code).
TENANT_TABLES = ("llm_provider_batches",)


def upgrade() -> None:
    op.add_column("batches", sa.Column("llm_mode", sa.String(length=24), nullable=True))
    op.add_column("batches", sa.Column("llm_cursor", sa.Text(), nullable=True))
    name = "llm_provider_batches"
    tenant_table(
        name,
        uuid("batch_id", nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), server_default="anthropic", nullable=False),
        sa.Column("provider_batch_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="submitting", nullable=False),
        sa.Column("processing_status", sa.String(length=16), nullable=True),
        jsonb("request_counts"),
        jsonb("requests", "{}"),
        sa.Column("request_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("request_bytes", sa.BigInteger(), server_default="0", nullable=False),
        jsonb("estimate"),
        sa.Column("results_applied", sa.Integer(), server_default="0", nullable=False),
        jsonb("error"),
        *moments("submit_started_at", "submitted_at", "cancel_requested_at", "ended_at", "expires_at", "collected_at"),
        *timestamps(),
        sa.CheckConstraint("status IN ('submitting','submitted','collected','abandoned')",
                           name=op.f("ck_llm_provider_batches_status")),
        fk(name, "batch_id", "batches", "CASCADE"),
        sa.UniqueConstraint("batch_id", "seq", name="uq_llm_provider_batches_batch_seq"),
    )
    op.create_index("uq_llm_provider_batches_provider_id", "llm_provider_batches", ["provider_batch_id"], unique=True,
                    postgresql_where=sa.text("provider_batch_id IS NOT NULL"))
    helpers.enable_tenant_rls(TENANT_TABLES, helpers.TENANT_PREDICATE)


def downgrade() -> None:
    op.drop_index("uq_llm_provider_batches_provider_id", table_name="llm_provider_batches")
    op.drop_table("llm_provider_batches")
    op.drop_column("batches", "llm_cursor")
    op.drop_column("batches", "llm_mode")
