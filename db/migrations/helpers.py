"""The pieces every tenant table's migration repeats: the id/account_id columns, timestamps, the tenant foreign
key and primary key, and the row-level security policy.

FROZEN like the revisions that call it: a fresh database is built by replaying them, so changing what a
function here emits changes old revisions' schema. To build something else, add a new function.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

# The policy predicate before 0013b (any role could turn the system scope on) and since (only the system role).
OLD_TENANT_PREDICATE = ("{key} = NULLIF(current_setting('app.account_id', true), '')::uuid "
                        "OR current_setting('app.system_scope', true) = 'on'")
TENANT_PREDICATE = "{key} = NULLIF(current_setting('app.account_id', true), '')::uuid OR (SELECT app_system_scope())"


def uuid(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.UUID(), nullable=nullable)


def moment(name: str, *, now: bool = False) -> sa.Column[Any]:
    """A timestamptz: NOT NULL DEFAULT now() with `now`, else nullable without a default."""
    if now:
        return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def moments(*names: str) -> list[sa.Column[Any]]:
    """Nullable timestamptz columns without a default, in the order given."""
    return [moment(name) for name in names]


def jsonb(name: str, default: str | None = None) -> sa.Column[Any]:
    """JSONB: NOT NULL with a default (`'{}'` or `'[]'`), else nullable without one."""
    if default is None:
        return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text(f"'{default}'::jsonb"),
                     nullable=False)


def timestamps() -> tuple[sa.Column[Any], sa.Column[Any]]:
    return moment('created_at', now=True), moment('updated_at', now=True)


def fk(table: str, column: str, target: str, ondelete: str = 'SET NULL') -> sa.ForeignKeyConstraint:
    """`column` -> `target`.id, named by the models' convention (fk_<table>_<column>_<target>)."""
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'),
                                   ondelete=ondelete)


def pk(table: str, column: str = 'id') -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(column, name=op.f(f'pk_{table}'))


def tenant_table(name: str, *elements: SchemaItem, account_nullable: bool = False) -> None:
    """CREATE TABLE with `id`, then `account_id` (ON DELETE CASCADE), then `elements`; primary key on id."""
    op.create_table(name, uuid('id', nullable=False), uuid('account_id', nullable=account_nullable), *elements,
                    fk(name, 'account_id', 'accounts', 'CASCADE'), pk(name))


def enable_tenant_rls(tables: Iterable[str], predicate: str) -> None:
    """ENABLE + FORCE row-level security; rows visible where `predicate` (keyed on the tenant column) holds.

    NULLIF(...)::uuid makes an unset tenant match nothing (fail closed) instead of raising.
    """
    for table in tables:
        condition = predicate.format(key=tenant_key(table))
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})")


def tenant_key(table: str) -> str:
    """The column a tenant table's policy compares with the tenant: accounts' own id, else account_id."""
    return "id" if table == "accounts" else "account_id"
