"""L1 workspace: categories, flows, internal tickets, walk sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:00:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Frozen: the tenant tables this revision adds (migrations never import moving code).
TENANT_TABLES = ("l1_categories", "l1_flows", "l1_internal_tickets", "l1_walk_sessions")


def upgrade() -> None:
    op.create_table('l1_categories',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('keywords', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_l1_categories_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l1_categories'))
    )
    op.create_index('uq_l1_categories_account_name', 'l1_categories', ['account_id', 'name'], unique=True)
    op.create_table('l1_flows',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('keywords', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('tree', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft','published')", name=op.f('ck_l1_flows_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_l1_flows_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_l1_flows_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l1_flows'))
    )
    op.create_index('ix_l1_flows_account_created', 'l1_flows', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_l1_flows_account_status_category', 'l1_flows', ['account_id', 'status', 'category'], unique=False)
    op.create_table('l1_internal_tickets',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('problem_statement', sa.Text(), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('customer_contact', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open','in_progress','resolved','escalated')", name=op.f('ck_l1_internal_tickets_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_l1_internal_tickets_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_l1_internal_tickets_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l1_internal_tickets'))
    )
    op.create_index('ix_l1_internal_tickets_account_created', 'l1_internal_tickets', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_l1_internal_tickets_account_status_created', 'l1_internal_tickets', ['account_id', 'status', 'created_at', 'id'], unique=False)
    op.create_table('l1_walk_sessions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('session_kind', sa.String(length=32), nullable=False),
    sa.Column('flow_id', sa.UUID(), nullable=True),
    sa.Column('flow_proposal', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('current_node_id', sa.String(length=64), nullable=True),
    sa.Column('walked_path', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('walk_notes', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=True),
    sa.Column('resolution_notes', sa.Text(), nullable=True),
    sa.Column('escalation_reason', sa.Text(), nullable=True),
    sa.Column('escalation_reason_category', sa.String(length=64), nullable=True),
    sa.Column('ticket_id', sa.UUID(), nullable=True),
    sa.Column('ticket_kind', sa.String(length=16), server_default='internal', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_step_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("session_kind IN ('flow','ai_build','escalate_without_walk')", name=op.f('ck_l1_walk_sessions_session_kind')),
    sa.CheckConstraint("status IN ('active','resolved','escalated')", name=op.f('ck_l1_walk_sessions_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_l1_walk_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_l1_walk_sessions_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['flow_id'], ['l1_flows.id'], name=op.f('fk_l1_walk_sessions_flow_id_l1_flows'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['l1_internal_tickets.id'], name=op.f('fk_l1_walk_sessions_ticket_id_l1_internal_tickets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l1_walk_sessions'))
    )
    op.create_index('ix_l1_walk_sessions_active_by_user', 'l1_walk_sessions', ['account_id', 'created_by', 'status', 'started_at'], unique=False)
    op.create_index('ix_l1_walk_sessions_escalated', 'l1_walk_sessions', ['account_id', 'escalated_at', 'id'], unique=False, postgresql_where=sa.text("status = 'escalated'"))
    op.create_index('ix_l1_walk_sessions_ticket', 'l1_walk_sessions', ['ticket_id'], unique=False)

    _enable_row_level_security()


def _enable_row_level_security() -> None:
    """Same policy as 0001: ENABLE + FORCE, rows visible to their tenant or the system scope."""
    for table in TENANT_TABLES:
        predicate = (
            "account_id = NULLIF(current_setting('app.account_id', true), '')::uuid "
            "OR current_setting('app.system_scope', true) = 'on'"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def downgrade() -> None:
    op.drop_index('ix_l1_walk_sessions_ticket', table_name='l1_walk_sessions')
    op.drop_index('ix_l1_walk_sessions_escalated', table_name='l1_walk_sessions', postgresql_where=sa.text("status = 'escalated'"))
    op.drop_index('ix_l1_walk_sessions_active_by_user', table_name='l1_walk_sessions')
    op.drop_table('l1_walk_sessions')
    op.drop_index('ix_l1_internal_tickets_account_status_created', table_name='l1_internal_tickets')
    op.drop_index('ix_l1_internal_tickets_account_created', table_name='l1_internal_tickets')
    op.drop_table('l1_internal_tickets')
    op.drop_index('ix_l1_flows_account_status_category', table_name='l1_flows')
    op.drop_index('ix_l1_flows_account_created', table_name='l1_flows')
    op.drop_table('l1_flows')
    op.drop_index('uq_l1_categories_account_name', table_name='l1_categories')
    op.drop_table('l1_categories')
