"""L1 workspace: categories, flows, internal tickets, walk sessions

Create Date: 2026-11-30 00:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from db.migrations import helpers
from db.migrations.helpers import fk, jsonb, moment, moments, tenant_table, timestamps, uuid

revision = '0002'
down_revision = '0001'

# Frozen: the tenant tables this revision adds (migrations never import moving code).
TENANT_TABLES = ("l1_categories", "l1_flows", "l1_internal_tickets", "l1_walk_sessions")


def upgrade() -> None:
    tenant_table('l1_categories',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    jsonb('keywords', '[]'),
    sa.Column('description', sa.String(length=500), nullable=True),
    *timestamps(),
    )
    op.create_index('uq_l1_categories_account_name', 'l1_categories', ['account_id', 'name'], unique=True)
    tenant_table('l1_flows',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    jsonb('keywords', '[]'),
    jsonb('tree', '{}'),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    moment('published_at'),
    uuid('created_by'),
    *timestamps(),
    sa.CheckConstraint("status IN ('draft','published')", name=op.f('ck_l1_flows_status')),
    fk('l1_flows', 'created_by', 'users'),
    )
    op.create_index('ix_l1_flows_account_created', 'l1_flows', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_l1_flows_account_status_category', 'l1_flows', ['account_id', 'status', 'category'], unique=False)
    tenant_table('l1_internal_tickets',
    uuid('created_by'),
    sa.Column('problem_statement', sa.Text(), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('customer_contact', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    *timestamps(),
    sa.CheckConstraint("status IN ('open','in_progress','resolved','escalated')", name=op.f('ck_l1_internal_tickets_status')),
    fk('l1_internal_tickets', 'created_by', 'users'),
    )
    op.create_index('ix_l1_internal_tickets_account_created', 'l1_internal_tickets', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_l1_internal_tickets_account_status_created', 'l1_internal_tickets', ['account_id', 'status', 'created_at', 'id'], unique=False)
    tenant_table('l1_walk_sessions',
    uuid('created_by'),
    sa.Column('session_kind', sa.String(length=32), nullable=False),
    uuid('flow_id'),
    jsonb('flow_proposal'),
    sa.Column('current_node_id', sa.String(length=64), nullable=True),
    jsonb('walked_path', '[]'),
    jsonb('walk_notes', '[]'),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=True),
    sa.Column('resolution_notes', sa.Text(), nullable=True),
    sa.Column('escalation_reason', sa.Text(), nullable=True),
    sa.Column('escalation_reason_category', sa.String(length=64), nullable=True),
    uuid('ticket_id'),
    sa.Column('ticket_kind', sa.String(length=16), server_default='internal', nullable=False),
    moment('started_at', now=True),
    *moments('last_step_at', 'resolved_at', 'escalated_at'),
    sa.CheckConstraint("session_kind IN ('flow','ai_build','escalate_without_walk')", name=op.f('ck_l1_walk_sessions_session_kind')),
    sa.CheckConstraint("status IN ('active','resolved','escalated')", name=op.f('ck_l1_walk_sessions_status')),
    fk('l1_walk_sessions', 'created_by', 'users'),
    fk('l1_walk_sessions', 'flow_id', 'l1_flows'),
    fk('l1_walk_sessions', 'ticket_id', 'l1_internal_tickets'),
    )
    op.create_index('ix_l1_walk_sessions_active_by_user', 'l1_walk_sessions', ['account_id', 'created_by', 'status', 'started_at'], unique=False)
    op.create_index('ix_l1_walk_sessions_escalated', 'l1_walk_sessions', ['account_id', 'escalated_at', 'id'], unique=False, postgresql_where=sa.text("status = 'escalated'"))
    op.create_index('ix_l1_walk_sessions_ticket', 'l1_walk_sessions', ['ticket_id'], unique=False)
    # Same policy as 0001: rows visible to their tenant or the system scope.
    helpers.enable_tenant_rls(TENANT_TABLES, helpers.OLD_TENANT_PREDICATE)


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
