"""initial schema

Create Date: 2026-11-24 00:13:02.602568
"""
import sqlalchemy as sa
from alembic import op

from db.migrations import helpers
from db.migrations.helpers import fk, jsonb, moment, moments, pk, tenant_table, timestamps, uuid

revision = '0001'
down_revision = None

# Frozen copy of db.base.TENANT_TABLES as of this revision (migrations never import moving code).
TENANT_TABLES = (
    "accounts", "users", "api_tokens", "account_settings", "psa_connections", "ai_sessions",
    "session_facts", "session_suggested_fixes", "script_templates", "draft_templates", "jobs",
    "previews", "batches",
)


def upgrade() -> None:
    op.create_table('accounts',
    uuid('id', nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    moment('created_at', now=True),
    pk('accounts')
    )
    op.create_table('account_settings',
    uuid('account_id', nullable=False),
    jsonb('preferences', '{}'),
    moment('updated_at', now=True),
    fk('account_settings', 'account_id', 'accounts', 'CASCADE'),
    pk('account_settings', 'account_id')
    )
    tenant_table('psa_connections',
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('site_url', sa.String(length=2048), nullable=False),
    sa.Column('company_id', sa.String(length=128), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=True),
    sa.Column('credentials', sa.LargeBinary(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    *timestamps(),
    )
    op.create_index('ix_psa_connections_account_created', 'psa_connections', ['account_id', 'created_at'], unique=False)
    tenant_table('script_templates',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=32), server_default='powershell', nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    jsonb('parameters', '{}'),
    *timestamps(),
    )
    op.create_index('ix_script_templates_account_name', 'script_templates', ['account_id', 'name'], unique=False)
    tenant_table('users',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('is_operator', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    moment('created_at', now=True),
    sa.CheckConstraint("(is_operator AND account_id IS NULL AND role IS NULL) OR (NOT is_operator AND account_id IS NOT NULL AND role IN ('l1','engineer','admin','owner'))", name=op.f('ck_users_kind')),
    account_nullable=True,
    )
    op.create_index('uq_users_account_email', 'users', ['account_id', 'email'], unique=True)
    op.create_index('uq_users_operator_email', 'users', ['email'], unique=True, postgresql_where=sa.text('is_operator'))
    tenant_table('ai_sessions',
    uuid('created_by'),
    sa.Column('status', sa.String(length=32), server_default='active', nullable=False),
    sa.Column('state_version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('intake_type', sa.String(length=32), nullable=False),
    jsonb('intake', '{}'),
    uuid('psa_connection_id'),
    sa.Column('psa_ticket_id', sa.String(length=64), nullable=True),
    sa.Column('resolution_note_markdown', sa.Text(), nullable=True),
    moment('resolution_note_posted_at'),
    sa.Column('resolution_note_external_id', sa.String(length=64), nullable=True),
    sa.Column('escalation_package_markdown', sa.Text(), nullable=True),
    moment('escalation_package_posted_at'),
    sa.Column('escalation_package_external_id', sa.String(length=64), nullable=True),
    sa.Column('resolution_summary', sa.String(length=500), nullable=True),
    sa.Column('escalation_reason', sa.String(length=500), nullable=True),
    moment('resolved_at'),
    *timestamps(),
    sa.CheckConstraint("status IN ('active','paused','requesting_escalation','escalated','resolved')", name=op.f('ck_ai_sessions_status')),
    fk('ai_sessions', 'created_by', 'users'),
    fk('ai_sessions', 'psa_connection_id', 'psa_connections'),
    )
    op.create_index('ix_ai_sessions_account_created', 'ai_sessions', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_ai_sessions_account_status_created', 'ai_sessions', ['account_id', 'status', 'created_at', 'id'], unique=False)
    op.create_index('ix_ai_sessions_account_updated', 'ai_sessions', ['account_id', 'updated_at'], unique=False)
    tenant_table('api_tokens',
    uuid('user_id', nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    moment('created_at', now=True),
    *moments('last_used_at', 'revoked_at'),
    fk('api_tokens', 'user_id', 'users', 'CASCADE'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    account_nullable=True,
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    tenant_table('batches',
    sa.Column('action', sa.String(length=64), nullable=False),
    jsonb('filter', '{}'),
    sa.Column('status', sa.String(length=16), server_default='expanding', nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    uuid('created_by'),
    *timestamps(),
    moment('finished_at'),
    sa.CheckConstraint("status IN ('expanding','running','succeeded','failed','cancelled')", name=op.f('ck_batches_status')),
    fk('batches', 'created_by', 'users'),
    )
    op.create_index('ix_batches_account_created', 'batches', ['account_id', 'created_at'], unique=False)
    tenant_table('jobs',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=16), server_default='interactive', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='queued', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('max_attempts', sa.Integer(), server_default='5', nullable=False),
    moment('next_attempt_at'),
    jsonb('payload', '{}'),
    jsonb('progress'),
    jsonb('result'),
    jsonb('error'),
    jsonb('steps', '{}'),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    uuid('claim_token'),
    uuid('session_id'),
    uuid('batch_id'),
    uuid('created_by'),
    *timestamps(),
    *moments('started_at', 'finished_at', 'heartbeat_at', 'dispatched_at'),
    sa.CheckConstraint("queue IN ('interactive','batch')", name=op.f('ck_jobs_queue')),
    sa.CheckConstraint("status IN ('queued','running','retrying','succeeded','failed','cancelled')", name=op.f('ck_jobs_status')),
    fk('jobs', 'batch_id', 'batches'),
    fk('jobs', 'created_by', 'users'),
    fk('jobs', 'session_id', 'ai_sessions'),
    account_nullable=True,
    )
    op.create_index('ix_jobs_account_created', 'jobs', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_jobs_batch_status', 'jobs', ['batch_id', 'status'], unique=False)
    op.create_index('ix_jobs_session', 'jobs', ['session_id', 'created_at'], unique=False)
    op.create_index('ix_jobs_status_kind', 'jobs', ['status', 'kind'], unique=False)
    op.create_index('ix_jobs_sweep_pending', 'jobs', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status IN ('queued','retrying')"))
    op.create_index('ix_jobs_sweep_running', 'jobs', ['heartbeat_at'], unique=False, postgresql_where=sa.text("status = 'running'"))
    op.create_index('uq_jobs_active_dedupe', 'jobs', ['dedupe_key'], unique=True, postgresql_where=sa.text("dedupe_key IS NOT NULL AND status IN ('queued','running','retrying')"))
    op.create_index('uq_jobs_idempotency', 'jobs', ['account_id', 'created_by', 'idempotency_key'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    tenant_table('session_facts',
    uuid('session_id', nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    uuid('created_by'),
    moment('created_at', now=True),
    moment('deleted_at'),
    fk('session_facts', 'created_by', 'users'),
    fk('session_facts', 'session_id', 'ai_sessions', 'CASCADE'),
    )
    op.create_index('ix_session_facts_live', 'session_facts', ['session_id', 'created_at'], unique=False, postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_table('session_suggested_fixes',
    uuid('id', nullable=False),
    uuid('session_id', nullable=False),
    uuid('account_id', nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('confidence_pct', sa.Integer(), nullable=False),
    uuid('script_template_id'),
    sa.Column('ai_drafted_script', sa.Text(), nullable=True),
    jsonb('ai_drafted_parameters'),
    sa.Column('user_decision', sa.String(length=32), nullable=True),
    sa.Column('edited_script', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='proposed', nullable=False),
    *moments('applied_at', 'verified_at'),
    sa.Column('partial_notes', sa.Text(), nullable=True),
    sa.Column('pending_reason', sa.Text(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    jsonb('ai_outcome_proposal'),
    moment('superseded_at'),
    moment('created_at', now=True),
    sa.CheckConstraint("status IN ('proposed','applied_success','applied_failed','applied_partial','applied_pending','dismissed')", name=op.f('ck_session_suggested_fixes_status')),
    sa.CheckConstraint("user_decision IS NULL OR user_decision IN ('one_off','draft_template','build_template','dismissed')", name=op.f('ck_session_suggested_fixes_user_decision')),
    sa.CheckConstraint('confidence_pct BETWEEN 0 AND 100', name=op.f('ck_session_suggested_fixes_confidence_pct')),
    fk('session_suggested_fixes', 'account_id', 'accounts', 'CASCADE'),
    fk('session_suggested_fixes', 'script_template_id', 'script_templates'),
    fk('session_suggested_fixes', 'session_id', 'ai_sessions', 'CASCADE'),
    pk('session_suggested_fixes')
    )
    op.create_index('ix_session_suggested_fixes_session_created', 'session_suggested_fixes', ['session_id', 'created_at'], unique=False)
    op.create_index('uq_session_suggested_fixes_one_active', 'session_suggested_fixes', ['session_id'], unique=True, postgresql_where=sa.text('superseded_at IS NULL'))
    tenant_table('draft_templates',
    uuid('source_session_id'),
    uuid('source_fix_id'),
    uuid('source_user_id'),
    sa.Column('script_body', sa.Text(), nullable=False),
    jsonb('proposed_parameters', '{}'),
    sa.Column('proposed_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    moment('created_at', now=True),
    sa.CheckConstraint("status IN ('pending','accepted','rejected')", name=op.f('ck_draft_templates_status')),
    fk('draft_templates', 'source_fix_id', 'session_suggested_fixes'),
    fk('draft_templates', 'source_session_id', 'ai_sessions'),
    fk('draft_templates', 'source_user_id', 'users'),
    )
    op.create_index('ix_draft_templates_account_status', 'draft_templates', ['account_id', 'status', 'created_at'], unique=False)
    tenant_table('previews',
    uuid('session_id', nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('generator', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=True),
    jsonb('usage'),
    uuid('job_id'),
    moment('generated_at', now=True),
    sa.CheckConstraint("kind IN ('resolution_note','escalation_package')", name=op.f('ck_previews_kind')),
    fk('previews', 'job_id', 'jobs'),
    fk('previews', 'session_id', 'ai_sessions', 'CASCADE'),
    sa.UniqueConstraint('session_id', 'kind', 'state_version', name='uq_previews_session_kind_version'),
    )
    helpers.enable_tenant_rls(TENANT_TABLES, helpers.OLD_TENANT_PREDICATE)


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table('previews')
    op.drop_index('ix_draft_templates_account_status', table_name='draft_templates')
    op.drop_table('draft_templates')
    op.drop_index('uq_session_suggested_fixes_one_active', table_name='session_suggested_fixes', postgresql_where=sa.text('superseded_at IS NULL'))
    op.drop_index('ix_session_suggested_fixes_session_created', table_name='session_suggested_fixes')
    op.drop_table('session_suggested_fixes')
    op.drop_index('ix_session_facts_live', table_name='session_facts', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_table('session_facts')
    op.drop_index('uq_jobs_idempotency', table_name='jobs', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('uq_jobs_active_dedupe', table_name='jobs', postgresql_where=sa.text("dedupe_key IS NOT NULL AND status IN ('queued','running','retrying')"))
    op.drop_index('ix_jobs_sweep_running', table_name='jobs', postgresql_where=sa.text("status = 'running'"))
    op.drop_index('ix_jobs_sweep_pending', table_name='jobs', postgresql_where=sa.text("status IN ('queued','retrying')"))
    op.drop_index('ix_jobs_status_kind', table_name='jobs')
    op.drop_index('ix_jobs_session', table_name='jobs')
    op.drop_index('ix_jobs_batch_status', table_name='jobs')
    op.drop_index('ix_jobs_account_created', table_name='jobs')
    op.drop_table('jobs')
    op.drop_index('ix_batches_account_created', table_name='batches')
    op.drop_table('batches')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_index('ix_ai_sessions_account_updated', table_name='ai_sessions')
    op.drop_index('ix_ai_sessions_account_status_created', table_name='ai_sessions')
    op.drop_index('ix_ai_sessions_account_created', table_name='ai_sessions')
    op.drop_table('ai_sessions')
    op.drop_index('uq_users_operator_email', table_name='users', postgresql_where=sa.text('is_operator'))
    op.drop_index('uq_users_account_email', table_name='users')
    op.drop_table('users')
    op.drop_index('ix_script_templates_account_name', table_name='script_templates')
    op.drop_table('script_templates')
    op.drop_index('ix_psa_connections_account_created', table_name='psa_connections')
    op.drop_table('psa_connections')
    op.drop_table('account_settings')
    op.drop_table('accounts')
    # ### end Alembic commands ###
