"""Alembic environment: migrate as the owner role, then grant the request and system roles what they need."""
from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url

from db.base import Base
from db.engine import normalize_url
from db.models import *  # noqa: F403  (fills Base.metadata)
from shared.settings import get_settings

config = context.config
log = logging.getLogger("flowpilot.migrations")
target_metadata = Base.metadata


def _urls() -> tuple[str, str, str]:
    settings = get_settings()
    migrate = config.attributes.get("migration_url") or settings.migration_url
    app = config.attributes.get("app_url") or settings.database_url
    system = config.attributes.get("system_url") or settings.flowpilot_system_database_url
    return normalize_url(migrate), normalize_url(app), normalize_url(system)


def _exists(connection: Connection, sql: str, **params: str) -> bool:
    return connection.execute(text(sql), params).scalar() is not None


def _grant_roles(connection: Connection, owner: str, app_role: str | None, system_role: str | None) -> None:
    """The request role reads and writes rows; the system role too, and may use the system scope.

    Neither owns tables nor alters them. The system-scope capability (EXECUTE on system_scope_key(), see
    migration 0013b) goes to the system role only: the request role must never hold it, not even through
    membership, or one SQL injection in a request could read every tenant.
    """
    key_exists = _exists(connection, "SELECT to_regprocedure('public.system_scope_key()')::oid")
    for role in (app_role, system_role):
        if not role or role == owner:
            continue
        if not _exists(connection, "SELECT 1 FROM pg_roles WHERE rolname = :r", r=role):
            log.warning("role %s does not exist: create it (LOGIN NOSUPERUSER NOBYPASSRLS), then run db upgrade again",
                        role)
            continue
        connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        connection.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'))
        connection.execute(text(f'REVOKE ALL ON alembic_version FROM "{role}"'))
        connection.execute(text(f'GRANT SELECT ON alembic_version TO "{role}"'))
        if key_exists and role == system_role:
            connection.execute(text(f'GRANT EXECUTE ON FUNCTION system_scope_key() TO "{role}"'))
        elif key_exists:
            connection.execute(text(f'REVOKE EXECUTE ON FUNCTION system_scope_key() FROM "{role}"'))


def _check_roles(connection: Connection, owner: str, app_role: str | None, system_role: str | None) -> None:
    if app_role == owner:
        log.warning("DATABASE_URL's role %s owns the schema: it could switch row-level security off and use the "
                    "system scope; set FLOWPILOT_MIGRATION_DATABASE_URL to a separate owner role", owner)
    if app_role and app_role == system_role:
        raise SystemExit(f"FLOWPILOT_SYSTEM_DATABASE_URL uses the request role {app_role!r}: give the system scope "
                         "its own role (see README, Tenancy and security)")
    if app_role and app_role != owner and system_role and _exists(
        connection, "SELECT 1 FROM pg_roles a, pg_roles s WHERE a.rolname = :a AND s.rolname = :s "
                    "AND pg_has_role(a.oid, s.oid, 'MEMBER')", a=app_role, s=system_role):
        raise SystemExit(f"the request role {app_role!r} is a member of the system role {system_role!r}: "
                         "it would inherit the system scope")


def run_migrations_online() -> None:
    migrate_url, app_url, system_url = _urls()
    engine = create_engine(migrate_url, poolclass=pool.NullPool)
    app_role, system_role = make_url(app_url).username, make_url(system_url).username
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            owner = connection.execute(text("SELECT current_user")).scalar_one()
            _check_roles(connection, owner, app_role, system_role)
            context.run_migrations()
            _grant_roles(connection, owner, app_role, system_role)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `flask --app web db upgrade`")
run_migrations_online()
