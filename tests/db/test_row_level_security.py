"""Tenancy enforced by Postgres itself, not only by our queries."""
from __future__ import annotations

import uuid

import psycopg2
from sqlalchemy import func, select, text

from db.base import TENANT_TABLES
from db.engine import SYSTEM, open_session, transaction
from db.engine import tenant as tenant_scope
from db.models import AiSession


def test_app_role_is_neither_superuser_nor_bypassrls(engine):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert row == (False, False)


def test_every_tenant_table_has_forced_rls(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(:t)"),
            {"t": list(TENANT_TABLES)},
        ).all()
    assert {r.relname for r in rows} == set(TENANT_TABLES)
    assert all(r.relrowsecurity and r.relforcerowsecurity for r in rows)


def test_no_tenant_set_sees_no_rows(client, tenant, engine):
    client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("engineer"))
    with transaction(engine, None) as db:
        for table in TENANT_TABLES:
            assert db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
    with transaction(engine, SYSTEM) as db:
        assert db.execute(select(func.count()).select_from(AiSession)).scalar_one() == 1


def test_owner_role_is_also_bound_by_forced_rls(client, tenant, database):
    # A row exists (so the 0 below is RLS, not an empty table).
    assert client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("engineer")).status_code == 201
    conn = psycopg2.connect(database["owner"])
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ai_sessions")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_tenant_cannot_write_rows_for_another_tenant(tenant, other_tenant, engine):
    import pytest
    from sqlalchemy.exc import ProgrammingError

    with pytest.raises(ProgrammingError, match="row-level security"):
        with transaction(engine, tenant_scope(tenant.account_id)) as db:
            db.add(AiSession(id=uuid.uuid4(), account_id=other_tenant.account_id, status="active", intake_type="free_text", intake={}))


def test_one_pooled_connection_serving_interleaved_tenants_leaks_nothing(client, tenant, other_tenant, settings):
    from db.engine import make_engine

    client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("engineer"))
    client.post("/api/v1/ai-sessions", json={}, headers=other_tenant.h("engineer"))
    one = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(3):
            for t in (tenant, other_tenant):
                with transaction(one, tenant_scope(t.account_id)) as db:
                    rows = db.execute(select(AiSession.account_id)).scalars().all()
                    assert rows == [t.account_id]
            s = open_session(one, None)
            assert s.execute(select(func.count()).select_from(AiSession)).scalar_one() == 0
            assert s.execute(text("SELECT current_setting('app.account_id', true)")).scalar_one() in (None, "")
            s.close()
    finally:
        one.dispose()
