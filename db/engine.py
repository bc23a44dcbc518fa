"""Engines and sessions, with the tenant (or the system scope) set on every transaction.

Two database roles: the request role (DATABASE_URL) serves tenant requests and tenant jobs; the system role
(FLOWPILOT_SYSTEM_DATABASE_URL) is the only one the row-level-security policies let into the system scope.
An engine made by `make_engines` carries the system role's engine with it, and every unit of work in the
system scope (`open_session`, `db.oneshot.run`) runs there: no code path puts the system scope on a
request-role connection, and if one did, Postgres would still show it no rows.
"""
from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction

_SET_TENANT = text("SELECT set_config('app.account_id', :account_id, true)")
_SET_SYSTEM = text("SELECT set_config('app.system_scope', 'on', true)")


@dataclass(frozen=True)
class Scope:
    """Who a transaction acts for: one tenant, or the system (sweeper, ops, batch expansion)."""

    account_id: uuid.UUID | None = None
    system: bool = False

    def __post_init__(self) -> None:
        if self.system == (self.account_id is not None):
            raise ValueError("a scope is either one tenant or the system, never both or neither")


SYSTEM = Scope(system=True)


def tenant(account_id: uuid.UUID | str) -> Scope:
    return Scope(account_id=uuid.UUID(str(account_id)))


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs (what people paste) and pin the psycopg2 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


# A pooled connection idle for longer than this is pinged before use (see _ping_when_idle).
PING_IDLE_S = 2.0


# Each request-role engine → the system role's engine, for units of work in the system scope.
_SYSTEM_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def make_engines(url: str, system_url: str, *, pool_size: int, max_overflow: int = 8) -> Engine:
    """The request role's engine, paired with a smaller pool of the system role (sweeps, token lookups, ops)."""
    engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    _SYSTEM_ENGINES[engine] = make_engine(system_url, pool_size=max(2, pool_size // 4), max_overflow=max(8, pool_size))
    return engine


def engine_for(engine: Engine, scope: Scope | None) -> Engine:
    """Where a unit of work in `scope` runs: the paired system engine for the system scope.

    An engine without a pair (a script's owner-role engine, say) serves both; the request role then simply
    sees no rows in the system scope.
    """
    if scope is not None and scope.system:
        return _SYSTEM_ENGINES.get(engine, engine)
    return engine


def dispose_engines(engine: Engine) -> None:
    system = _SYSTEM_ENGINES.pop(engine, None)
    if system is not None:
        system.dispose()
    engine.dispose()


def make_engine(url: str, **kw: Any) -> Engine:
    ping_idle_s = kw.pop("ping_idle_s", PING_IDLE_S)
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    kw.setdefault("pool_recycle", 1800)
    engine = create_engine(normalize_url(url), **kw)
    if not kw.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection before use only when it sat idle for `idle_s` or more.

    `pool_pre_ping` pinged on every checkout: half the statements of a job's hot path. A connection that
    was used a moment ago has just proven itself; one that sat idle (through a Postgres restart, say) is
    checked, and if dead, replaced before anyone uses it. A restart under load still fails the statement
    in flight on each stale busy connection, as it would with pre-ping; SQLAlchemy then recycles the whole
    pool, and the unit of work is retried by its owner (the client with its Idempotency-Key, the sweeper).
    """

    @event.listens_for(engine.pool, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["fp_idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("fp_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # just opened, or just used
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:  # noqa: BLE001 - any failure means: do not hand this connection out
            raise DisconnectionError("pooled connection failed its idle ping") from exc


@event.listens_for(Session, "after_begin")
def _apply_scope(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    """Set the scope inside every transaction (transaction-local, so pooled connections never leak it).

    A session without a scope sets nothing, and row-level security then shows it no tenant rows.
    """
    scope: Scope | None = session.info.get("scope")
    if scope is None:
        return
    if scope.system:
        connection.execute(_SET_SYSTEM)
    else:
        connection.execute(_SET_TENANT, {"account_id": str(scope.account_id)})


def open_session(engine: Engine, scope: Scope | None, isolation: str | None = None) -> Session:
    target = engine_for(engine, scope)
    bind = target.execution_options(isolation_level=isolation) if isolation else target
    return Session(bind=bind, expire_on_commit=False, info={"scope": scope})


@contextmanager
def transaction(engine: Engine, scope: Scope | None, *, isolation: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error. The caller is the boundary.

    `isolation="REPEATABLE READ"` gives every statement the same snapshot (consistent multi-row reads).
    """
    session = open_session(engine, scope, isolation)
    try:
        with session.begin():
            yield session
    finally:
        session.close()
