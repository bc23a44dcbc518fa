"""The system scope needs a capability only the system role holds; an index for the L1 flow-index stamp.

Before: every policy let a transaction see every tenant's rows once it set `app.system_scope = 'on'`, which
any role may do (custom settings need no privilege): one SQL injection in a request would read every tenant.
Now the system-scope clause also asks `app_system_scope()`, true only for a role that may EXECUTE
`system_scope_key()`. Nobody may by default (REVOKE FROM PUBLIC); db/migrations/env.py grants it to the
system role (FLOWPILOT_SYSTEM_DATABASE_URL) after every upgrade and revokes it from the request role.
The table owner keeps it implicitly (it owns the function; it could switch RLS off anyway).

A tenant table added later must use the same predicate:
    <key> = NULLIF(current_setting('app.account_id', true), '')::uuid OR (SELECT app_system_scope())
(the scalar subquery makes it one evaluation per statement, not one per row): db/migrations/helpers.py
has it as TENANT_PREDICATE, and enable_tenant_rls() applies it.

Create Date: 2026-12-02
"""
from alembic import op
from sqlalchemy import text

from db.migrations.helpers import OLD_TENANT_PREDICATE, TENANT_PREDICATE, tenant_key

revision = "0013b"
down_revision = "0013a"


def _policed_tables() -> list[str]:
    rows = op.get_bind().execute(text(
        "SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = 'tenant_isolation' "
        "ORDER BY tablename")).all()
    return [r[0] for r in rows]


def _recreate_policies(template: str) -> None:
    for table in _policed_tables():
        predicate = template.format(key=tenant_key(table))
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def upgrade() -> None:
    op.execute("CREATE FUNCTION system_scope_key() RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'")
    op.execute("REVOKE ALL ON FUNCTION system_scope_key() FROM PUBLIC")
    op.execute("COMMENT ON FUNCTION system_scope_key() IS "
               "'A capability: roles allowed to EXECUTE it may use app.system_scope (granted by db/migrations/env.py)'")
    op.execute(
        "CREATE FUNCTION app_system_scope() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ "
        "SELECT coalesce(current_setting('app.system_scope', true) = 'on', false) "
        "AND has_function_privilege('public.system_scope_key()', 'EXECUTE') $$"
    )
    _recreate_policies(TENANT_PREDICATE)
    # The L1 flow index's stamp (count and latest change of a tenant's published flows) reads only this index.
    op.create_index("ix_l1_flows_account_status_updated", "l1_flows", ["account_id", "status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_l1_flows_account_status_updated", table_name="l1_flows")
    _recreate_policies(OLD_TENANT_PREDICATE)
    op.execute("DROP FUNCTION app_system_scope()")
    op.execute("DROP FUNCTION system_scope_key()")
