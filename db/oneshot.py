"""One round trip per transaction, for the few single-statement units of work on the job hot path.

Through an ORM session a transaction costs five round trips: the pool's ping, BEGIN, set_config (the scope that
row-level security reads), the statement and COMMIT. PostgreSQL runs the statements of one simple-query message
as one implicit transaction, and psycopg2 sends each execute as one such message. So on an autocommit connection
`SELECT set_config(..., true); <statement>` is a whole transaction in one message: the scope is transaction-local
exactly as `db.engine._apply_scope` sets it (nothing leaks to the pooled connection), and both statements commit
together or not at all. The result is the last statement's.

Used for: the job insert of POST /jobs, the poll's read, and the worker's claim and completion. Anything with more
than one statement, or whose statement depends on what an earlier one returned, stays on the session.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, TextClause, text
from sqlalchemy.sql.elements import BindParameter

from db.engine import Scope, engine_for

PREFIX_TENANT = "SELECT set_config('app.account_id', :_scope_account_id, true); "
PREFIX_SYSTEM = "SELECT set_config('app.system_scope', 'on', true); "


@dataclass(frozen=True)
class OneShot:
    """A statement prepared with each scope prefix (built once, at import)."""

    tenant: Any
    system: Any

    @classmethod
    def of(cls, sql: str, *binds: BindParameter[Any], columns: Sequence[ColumnElement[Any]] = ()) -> OneShot:
        def build(prefix: str) -> Any:
            clause: TextClause = text(prefix + sql)
            if binds:
                clause = clause.bindparams(*binds)
            return clause.columns(*columns) if columns else clause

        return cls(build(PREFIX_TENANT), build(PREFIX_SYSTEM))


def run(engine: Engine, scope: Scope, stmt: OneShot, params: dict[str, Any]) -> Sequence[Row[Any]]:
    """Execute `stmt` in `scope` as its own transaction; the rows of its last statement.

    The system scope runs on the system role's engine (db.engine.engine_for), like every system unit of work.
    """
    if scope.system:
        clause, bound = stmt.system, params
    else:
        clause, bound = stmt.tenant, {**params, "_scope_account_id": str(scope.account_id)}
    with engine_for(engine, scope).connect() as conn:
        # psycopg2's autocommit flag is client-side: flipping it costs no round trip. (SQLAlchemy's
        # isolation_level="AUTOCOMMIT" option would send `SET default_transaction_isolation` twice per use.)
        raw: Any = conn.connection.dbapi_connection
        raw.autocommit = True
        try:
            return conn.execute(clause, bound).all()
        finally:
            try:
                raw.autocommit = False
            except Exception:  # noqa: BLE001 - the connection broke; the pool discards it, keep the first error
                pass
