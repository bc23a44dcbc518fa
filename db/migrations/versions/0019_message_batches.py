"""Message Batches for regeneration batches: provider batches per batch, the batch's LLM mode and cursor.

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None

# Frozen: the tenant tables this revision adds (migrations never import moving code).
TENANT_TABLES = ("llm_provider_batches",)


def upgrade() -> None:
    op.add_column("batches", sa.Column("llm_mode", sa.String(length=24), nullable=True))
    op.add_column("batches", sa.Column("llm_cursor", sa.Text(), nullable=True))
    op.create_table(
        "llm_provider_batches",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("batch_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), server_default="anthropic", nullable=False),
        sa.Column("provider_batch_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="submitting", nullable=False),
        sa.Column("processing_status", sa.String(length=16), nullable=True),
        sa.Column("request_counts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("requests", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("request_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("request_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("results_applied", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("submit_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('submitting','submitted','collected','abandoned')",
                           name=op.f("ck_llm_provider_batches_status")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_llm_provider_batches_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_llm_provider_batches_batch_id_batches"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_provider_batches")),
        sa.UniqueConstraint("batch_id", "seq", name="uq_llm_provider_batches_batch_seq"),
    )
    op.create_index("uq_llm_provider_batches_provider_id", "llm_provider_batches", ["provider_batch_id"], unique=True,
                    postgresql_where=sa.text("provider_batch_id IS NOT NULL"))
    _enable_row_level_security()


def _enable_row_level_security() -> None:
    """ENABLE + FORCE, rows visible to their tenant or the system scope (the 0015/0016 predicate)."""
    for table in TENANT_TABLES:
        predicate = (
            "account_id = NULLIF(current_setting('app.account_id', true), '')::uuid "
            "OR (SELECT app_system_scope())"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def downgrade() -> None:
    op.drop_index("uq_llm_provider_batches_provider_id", table_name="llm_provider_batches")
    op.drop_table("llm_provider_batches")
    op.drop_column("batches", "llm_cursor")
    op.drop_column("batches", "llm_mode")
