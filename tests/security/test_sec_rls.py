"""Row-level security beyond tests/db/test_row_level_security.py.

That file checks the roles' flags, FORCE on every table and one table without a tenant. Here every
tenant table holds rows of two tenants first (so "0 rows" is never vacuous), raw SQL as the app role
and as the owner (migration) role sees none of them without a tenant, sees exactly its own with one,
cannot move rows to another tenant, cannot switch RLS off; and no API input reaches
`app.system_scope` (a spy on every SQL statement and pooled connection would catch a handler that
set it, or the tenant, from a header, query string or body).
"""
from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from db.base import TENANT_TABLES
from db.engine import SYSTEM, transaction
from db.oneshot import PREFIX_SYSTEM, PREFIX_TENANT
from tests.helpers import OWNER_ROLE
from tests.security.routes import call, discover
from tests.security.world import NAME_KEYED, build_world, key_column, path_values, populate_rest


@pytest.fixture
def two_worlds(client, tenant, other_tenant, engine) -> tuple[dict[str, str], dict[str, str]]:
    a, b = build_world(client, tenant), build_world(client, other_tenant)
    populate_rest(engine, tenant.account_id, a["session"])
    populate_rest(engine, other_tenant.account_id, b["session"])
    with transaction(engine, SYSTEM) as db:
        for t in (tenant, other_tenant):
            empty = [tb for tb in TENANT_TABLES
                     if not db.execute(text(f"SELECT count(*) FROM {tb} WHERE {key_column(tb)} = :a"),
                                       {"a": t.account_id}).scalar_one()]
            assert not empty, f"no rows in {empty}: add one to tests/security/world.py so RLS is really tested there"
    return a, b


def _raw(url: str) -> Any:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _count(cur: Any, table: str, where: str = "") -> int:
    cur.execute(f"SELECT count(*) FROM {table} {where}")
    return int(cur.fetchone()[0])


@pytest.mark.parametrize("role", ["app", "owner"])
def test_raw_sql_without_a_tenant_sees_no_row_of_any_tenant_table(two_worlds, database, role):
    conn = _raw(database[role])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('app.account_id', true), current_setting('app.system_scope', true)")
            assert cur.fetchone() in ((None, None), ("", ""))
            assert {t: _count(cur, t) for t in TENANT_TABLES} == dict.fromkeys(TENANT_TABLES, 0)
            # Near misses of the system scope and junk tenants fail closed too.
            for value in ("ON", "On", "true", "1", "yes", " on", "on "):
                cur.execute("SELECT set_config('app.system_scope', %s, false)", (value,))
                assert sum(_count(cur, t) for t in TENANT_TABLES) == 0, value
            cur.execute("SELECT set_config('app.system_scope', '', false)")
            for value in ("", str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"):
                cur.execute("SELECT set_config('app.account_id', %s, false)", (value,))
                assert sum(_count(cur, t) for t in TENANT_TABLES) == 0, value
            cur.execute("SELECT set_config('app.account_id', %s, false)", ("' OR true --",))
            with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
                _count(cur, "ai_sessions")  # not a uuid: an error, never every row
    finally:
        conn.close()


def test_a_tenant_sees_exactly_its_own_rows_in_every_table(two_worlds, database, tenant, other_tenant, engine):
    conn = _raw(database["app"])
    try:
        with conn.cursor() as cur:
            for t in (tenant, other_tenant):
                cur.execute("SELECT set_config('app.account_id', %s, false)", (str(t.account_id),))
                for table in TENANT_TABLES:
                    key = key_column(table)
                    mine = _count(cur, table)
                    assert mine > 0, table
                    assert _count(cur, table, f"WHERE {key} <> '{t.account_id}'") == 0, table
                    with transaction(engine, SYSTEM) as db:
                        owned = db.execute(text(f"SELECT count(*) FROM {table} WHERE {key} = :a"),
                                           {"a": t.account_id}).scalar_one()
                    assert mine == owned, table
    finally:
        conn.close()


def test_a_tenant_cannot_move_update_or_delete_rows_across_tenants(two_worlds, database, tenant, other_tenant):
    conn = psycopg2.connect(database["app"])
    try:
        for table in TENANT_TABLES:
            if table == "accounts":
                continue
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('app.account_id', %s, true)", (str(tenant.account_id),))
                with pytest.raises(psycopg2.Error) as err:
                    cur.execute(f"UPDATE {table} SET account_id = %s", (str(other_tenant.account_id),))
                assert "row-level security" in str(err.value), (table, str(err.value))
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('app.account_id', %s, true)", (str(tenant.account_id),))
                cur.execute(f"DELETE FROM {table} WHERE account_id = %s", (str(other_tenant.account_id),))
                assert cur.rowcount == 0, table
            conn.rollback()
    finally:
        conn.close()


def test_owner_role_is_not_superuser_and_owns_the_tables(engine, database):
    """The migration role owns every tenant table (so FORCE is what binds it) and is no superuser.

    tests/conftest.py creates it NOSUPERUSER NOBYPASSRLS; a pre-existing role with either flag fails here.
    """
    with engine.connect() as conn:
        flags = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
                             {"r": OWNER_ROLE}).one()
        owners = dict(conn.execute(text("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                                        "WHERE c.relname = ANY(:t) AND c.relkind = 'r'"),
                                   {"t": list(TENANT_TABLES)}).all())
    assert tuple(flags) == (False, False), f"{OWNER_ROLE} is superuser/BYPASSRLS: {tuple(flags)}"
    assert owners == dict.fromkeys(TENANT_TABLES, OWNER_ROLE)


@pytest.mark.parametrize("statement", [
    "ALTER TABLE ai_sessions NO FORCE ROW LEVEL SECURITY",
    "ALTER TABLE ai_sessions DISABLE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON ai_sessions",
    "CREATE POLICY open_door ON ai_sessions USING (true)",
    f"SET ROLE {OWNER_ROLE}",
    f"SET SESSION AUTHORIZATION {OWNER_ROLE}",
    "SET row_security = off",  # allowed to set, but then any RLS-filtered query must error, not bypass
])
def test_app_role_cannot_switch_rls_off(database, two_worlds, statement):
    conn = _raw(database["app"])
    try:
        with conn.cursor() as cur:
            if statement.startswith("SET row_security"):
                cur.execute(statement)
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    _count(cur, "ai_sessions")
                return
            with pytest.raises(psycopg2.Error) as err:
                cur.execute(statement)
            assert isinstance(err.value, psycopg2.errors.InsufficientPrivilege | psycopg2.errors.UndefinedObject), err.value
            assert "must be owner" in str(err.value) or "permission denied" in str(err.value), str(err.value)
    finally:
        conn.close()


# ---------------------------------------------------------------------------- system scope from input

SET_SYSTEM_SQL = "SELECT set_config('app.system_scope', 'on', true)"
SET_TENANT_SQL = "SELECT set_config('app.account_id', %(account_id)s, true)"
ONESHOT_TENANT = PREFIX_TENANT.replace(":_scope_account_id", "%(_scope_account_id)s")
ONESHOT_SYSTEM = PREFIX_SYSTEM
INJECTIONS = [
    "on",
    "'on'",
    "app.system_scope=on",
    "'); SELECT set_config('app.system_scope','on',false); --",
    "on', true); SET app.system_scope = 'on'; --",
]


class ScopeSpy:
    """Watches every statement and every pooled connection of an engine while installed.

    Violations: a statement touching app.system_scope outside a system-scoped session, any
    statement setting the scope other than the two the engine module uses, a system-scope one-shot other
    than the token lookup (or on the request role's engine), and a connection coming out of the pool
    still carrying a tenant or the system scope.
    """

    def __init__(self, engine: Any) -> None:
        from db.engine import engine_for

        self.engine = engine
        self.system_engine = engine_for(engine, SYSTEM)
        assert self.system_engine is not engine
        self.violations: list[str] = []
        self.tenants: set[str] = set()
        self.system_sets = 0

    def _after_begin(self, session: Session, transaction: Any, connection: Any) -> None:
        connection.info["spy_scope"] = session.info.get("scope")

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        low = statement.lower()
        scope = conn.info.get("spy_scope")
        if statement.startswith(ONESHOT_TENANT):  # db/oneshot.py: scope + one statement, one implicit transaction
            rest = statement[len(ONESHOT_TENANT):].lower()
            if "set_config" in rest or "system_scope" in rest or "app.account_id" in rest or ";" in rest:
                self.violations.append(f"one-shot statement touching the scope: {statement} {parameters}")
            else:
                self.tenants.add(str(parameters["_scope_account_id"]))
        elif statement.startswith(ONESHOT_SYSTEM):
            # The token lookup (a cache miss) is the one system statement of a tenant request, on the system
            # role's engine; on the request role's engine nothing may run in the system scope.
            if conn.engine is self.engine or "from api_tokens" not in low:
                self.violations.append(f"one-shot in the system scope: {statement} {parameters}")
            else:
                self.system_sets += 1
        elif "system_scope" in low:
            if statement.strip() != SET_SYSTEM_SQL or scope is None or not scope.system:
                self.violations.append(f"system scope touched in scope {scope}: {statement} {parameters}")
            else:
                self.system_sets += 1
        elif "app.account_id" in low:
            if statement.strip() != SET_TENANT_SQL:
                self.violations.append(f"tenant set by an unexpected statement: {statement} {parameters}")
            else:
                self.tenants.add(str(parameters["account_id"]))
        elif "set_config" in low or "set local" in low or low.lstrip().startswith("set "):
            self.violations.append(f"unexpected SET: {statement} {parameters}")

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT current_setting('app.system_scope', true), current_setting('app.account_id', true)")
        leftover = cur.fetchone()
        cur.close()
        dbapi_conn.rollback()
        if any(v not in (None, "") for v in leftover):
            self.violations.append(f"pooled connection still scoped: {leftover}")

    def _checkin(self, dbapi_conn: Any, record: Any) -> None:
        record.info.pop("spy_scope", None)

    def __enter__(self) -> ScopeSpy:
        event.listen(Session, "after_begin", self._after_begin, insert=True)  # before the scope is set
        for engine in (self.engine, self.system_engine):
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine.pool, "checkout", self._checkout)
            event.listen(engine.pool, "checkin", self._checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Session, "after_begin", self._after_begin)
        for engine in (self.engine, self.system_engine):
            event.remove(engine, "before_cursor_execute", self._before)
            event.remove(engine.pool, "checkout", self._checkout)
            event.remove(engine.pool, "checkin", self._checkin)


def _inject_strings(body: Any, value: str) -> Any:
    if isinstance(body, dict):
        return {k: _inject_strings(v, value) for k, v in body.items()}
    if isinstance(body, list):
        return [_inject_strings(v, value) for v in body]
    return value if isinstance(body, str) else body


def test_no_api_input_reaches_the_system_scope_or_the_tenant(app, client, engine, tenant, other_tenant, two_worlds):
    a, b = two_worlds
    routes = [r for r in discover(app) if r.rule.startswith("/api/v1/") and r.tenant_roles]
    a_ids = {k: v for k, v in a.items() if k not in NAME_KEYED}
    seen, leaks = 0, []
    with ScopeSpy(engine) as spy:
        for route in routes:
            role = route.tenant_roles[-1]
            values = path_values(route.rule, route.params, a)
            for inj in INJECTIONS:
                headers = other_tenant.h(role, **{
                    "X-System-Scope": inj, "X-App-System-Scope": "on", "X-Account-Id": str(tenant.account_id),
                    "X-Tenant-Id": str(tenant.account_id), "Prefer": f"app.system_scope={inj}",
                    "Cookie": f"system_scope={inj}; account_id={tenant.account_id}"})
                query = f"app.system_scope={inj}&account_id={tenant.account_id}"
                body = route.body()
                attempts = [
                    call(client, route, values, headers),  # headers only: reaches the handler
                    call(client, route, values, headers, query=query),  # plus query string
                ]
                if body is not None:
                    attempts.append(call(client, route, values, headers, body=_inject_strings(body, inj)))
                    attempts.append(call(client, route, values, headers,
                                         body={**body, "system_scope": "on", "account_id": str(tenant.account_id)}))
                for resp in attempts:
                    seen += 1
                    text_ = resp.get_data(as_text=True)
                    leaks += [f"{route.label} [{inj!r}] → {resp.status_code} shows A's {k}"
                              for k, v in a_ids.items() if v in text_]
                    if resp.status_code >= 500:
                        leaks.append(f"{route.label} [{inj!r}] → {resp.status_code}")
    assert not spy.violations, "\n".join(spy.violations[:20])
    assert spy.tenants == {str(other_tenant.account_id)}, spy.tenants  # only ever B, from its token
    # Token lookups (cache misses) ran in the system scope on the system role's engine, where they belong;
    # cache hits never enter it, and no tenant request set the system scope on a request-role connection.
    assert 1 <= spy.system_sets < seen
    assert not leaks, "\n".join(leaks[:30])
    # And A's objects are as invisible to B as before.
    assert client.get(f"/api/v1/ai-sessions/{a['session']}", headers=other_tenant.h("engineer")).status_code == 404
    assert a["session"] not in client.get("/api/v1/ai-sessions", headers=other_tenant.h("owner")).get_data(as_text=True)
