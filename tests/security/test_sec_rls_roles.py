"""Defence in depth for tenancy (issue 13, item 8): the role that serves requests cannot reach the system scope.

Row-level security shows a transaction one tenant's rows, or every row in the system scope
(`app.system_scope = 'on'`). Setting a custom GUC needs no privilege, so if the request role could enter
the system scope, one SQL injection in any tenant endpoint would read every tenant. Now the system-scope
clause of every policy also requires a capability (EXECUTE on `system_scope_key()`) that migrations grant
only to the system role (FLOWPILOT_SYSTEM_DATABASE_URL): the sweeper, heartbeats, token lookups, ops and
the CLI connect as that role; tenant requests and tenant jobs connect as the request role.

Workers trust a message for the job id only: the tenant comes from the job row. A message whose job does
not exist, or whose tenant disagrees with the row (including no tenant at all), is dropped and counted
(`flowpilot_messages_dropped_total{reason}`).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import redis
from flask import Blueprint, jsonify, request
from sqlalchemy import text

from db.base import TENANT_TABLES
from db.engine import tenant as tenant_scope
from shared.jobs.oneshots import read_job
from shared.jobs.service import JobRef
from shared.jobs.state_machine import insert_job
from shared.metrics import key
from tests.helpers import autocommit_cursor, wait_job


def _session(client: Any, tenant: Any) -> str:
    resp = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "VPN drops"}},
                       headers=tenant.h("engineer"))
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["id"])


@pytest.fixture
def two_tenants_rows(client: Any, tenant: Any, other_tenant: Any) -> None:
    _session(client, tenant)
    _session(client, other_tenant)


def _counts(url: str, *statements: str) -> dict[str, int]:
    out = {}
    with autocommit_cursor(url, *statements) as cur:
        for table in TENANT_TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = int(cur.fetchone()[0])
    return out


def test_the_request_role_cannot_enter_the_system_scope(database, two_tenants_rows):
    seen = _counts(database["app"], "SELECT set_config('app.system_scope', 'on', false)")
    assert seen == dict.fromkeys(TENANT_TABLES, 0)
    for statement in ("SET app.system_scope = 'on'", "SET SESSION app.system_scope TO 'on'"):
        assert sum(_counts(database["app"], statement).values()) == 0, statement


def test_a_tenant_transaction_that_flips_the_system_scope_still_sees_only_its_tenant(database, tenant, two_tenants_rows):
    conn = psycopg2.connect(database["app"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('app.account_id', %s, true)", (str(tenant.account_id),))
            cur.execute("SELECT set_config('app.system_scope', 'on', true)")  # what an injected statement would do
            cur.execute("SELECT count(DISTINCT account_id), count(*) FROM ai_sessions")
            assert cur.fetchone() == (1, 1)
            cur.execute("SELECT count(*) FROM accounts")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_the_capability_belongs_to_the_system_role_only(database, two_tenants_rows):
    seen = _counts(database["system"], "SELECT set_config('app.system_scope', 'on', false)")
    assert seen["ai_sessions"] >= 2 and seen["accounts"] >= 2
    assert sum(_counts(database["system"]).values()) == 0  # and even it sees nothing outside a scope
    conn = psycopg2.connect(database["app"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT has_function_privilege(current_user, 'system_scope_key()', 'EXECUTE')")
            assert cur.fetchone() == (False,)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("GRANT EXECUTE ON FUNCTION system_scope_key() TO CURRENT_USER")
    finally:
        conn.close()


@pytest.fixture
def injectable_app(settings: Any) -> Iterator[Any]:
    """The app with one extra tenant endpoint that runs caller-supplied SQL in the request's transaction:
    the shape of a future SQL injection anywhere in a tenant endpoint."""
    from web import create_app
    from web.auth import ENGINEER_UP, require
    from web.db import db

    application = create_app(settings)
    bp = Blueprint("injection_probe", __name__)

    @bp.post("/test-only/injection")
    @require(*ENGINEER_UP, operator=True)
    def injection() -> Any:
        rows = db().execute(text(request.get_json()["sql"])).all()
        return jsonify({"rows": [list(map(str, r)) for r in rows]})

    application.register_blueprint(bp)
    yield application
    application.extensions["flowpilot"].dispose()


INJECTED = ("SELECT set_config('app.system_scope', 'on', true); "
            "SELECT count(DISTINCT account_id) FROM ai_sessions")


def test_an_injection_in_a_tenant_request_reads_only_that_tenant(injectable_app, tenant, other_tenant, operator):
    c = injectable_app.test_client()
    _session(c, tenant)
    _session(c, other_tenant)
    resp = c.post("/test-only/injection", json={"sql": INJECTED}, headers=tenant.h("engineer"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["rows"] == [["1"]]
    who = c.post("/test-only/injection", json={"sql": "SELECT current_user"}, headers=tenant.h("engineer"))
    served_by = who.get_json()["rows"][0][0]
    assert c.post("/test-only/injection", json={"sql": "SELECT current_user"},
                  headers=operator).get_json()["rows"][0][0] != served_by  # operators: the system role


# -- workers trust a message for the job id only ---------------------------------------------------------


def _dropped(settings: Any) -> dict[str, int]:
    r = redis.Redis.from_url(settings.redis_url)
    try:
        raw = r.hgetall(key(settings.flowpilot_redis_namespace, "messages_dropped_total"))
    finally:
        r.close()
    return {k.decode(): int(v) for k, v in raw.items()}


def _wait_dropped(settings: Any, expected: dict[str, int], timeout: float = 15.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    seen = _dropped(settings)
    while time.monotonic() < deadline and any(seen.get(k, 0) < v for k, v in expected.items()):
        time.sleep(0.1)
        seen = _dropped(settings)
    return seen


def test_a_message_is_trusted_for_the_job_id_only(app, client, settings, engine, tenant, other_tenant, worker):
    st = app.extensions["flowpilot"]
    job = insert_job(engine, tenant_scope(tenant.account_id), account_id=tenant.account_id, kind="system.echo",
                     payload={"payload": {"who": "a"}, "_options": {}}, created_by=None)  # committed, never dispatched
    before = _dropped(settings)
    forged = [JobRef(job.id, other_tenant.account_id, "system.echo", "interactive"),  # another tenant
              JobRef(job.id, None, "system.echo", "interactive"),  # no tenant: used to mean the system scope
              JobRef(uuid.uuid4(), tenant.account_id, "system.echo", "interactive")]  # no such job
    assert st.dispatcher.send(forged) == []
    want = {"tenant_mismatch": before.get("tenant_mismatch", 0) + 2, "job_missing": before.get("job_missing", 0) + 1}
    seen = _wait_dropped(settings, want)
    assert {k: seen.get(k, 0) for k in want} == want, seen
    untouched = read_job(engine, tenant_scope(tenant.account_id), job.id)
    assert untouched is not None and (untouched.status, untouched.attempts) == ("queued", 0)

    assert st.dispatcher.send([JobRef.of(job)]) == []  # the real doorbell
    done = wait_job(client, tenant.h(), str(job.id))
    assert done["status"] == "succeeded" and done["result"]["echo"] == {"who": "a"}


def test_an_operators_job_without_a_tenant_still_runs(client, operator, worker):
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"op": 1}}, headers=operator)
    assert resp.status_code == 202, resp.get_json()
    assert wait_job(client, operator, resp.get_json()["job"]["id"])["status"] == "succeeded"


def test_every_tenant_policy_asks_for_the_capability(engine):
    """A tenant table added by a later migration with the old predicate would reopen the hole: caught here."""
    with engine.connect() as conn:
        policies = dict(conn.execute(text(
            "SELECT tablename, qual FROM pg_policies WHERE schemaname = 'public' AND policyname = 'tenant_isolation'")).all())
    assert set(policies) == set(TENANT_TABLES)
    for table, qual in policies.items():
        assert "app_system_scope()" in qual and "current_setting('app.system_scope'" not in qual, (table, qual)


def test_healthz_says_when_the_roles_are_mixed_up(client, settings):
    from web import create_app

    assert client.get("/healthz").get_json()["checks"]["system_scope"] == "ok"
    mixed = create_app(settings.model_copy(update={"flowpilot_system_database_url": settings.database_url}))
    try:
        resp = mixed.test_client().get("/healthz")
        assert resp.status_code == 503 and resp.get_json()["checks"]["system_scope"] == "misconfigured"
    finally:
        mixed.extensions["flowpilot"].dispose()
