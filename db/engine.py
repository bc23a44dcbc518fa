"""Engines and sessions, with the tenant (or the system scope) set on every transaction."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
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


def make_engine(url: str, **kw: Any) -> Engine:
    kw.setdefault("pool_pre_ping", True)  # survive a Postgres restart without a failed request
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    kw.setdefault("pool_recycle", 1800)
    return create_engine(normalize_url(url), **kw)


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


_SWITCH_TO_TENANT = text(
    "SELECT set_config('app.system_scope', '', true), set_config('app.account_id', :account_id, true)"
)


def narrow_to_tenant(session: Session, account_id: uuid.UUID) -> None:
    """Leave the system scope for one tenant inside the current transaction (and any later one).

    Used by the web request: the token lookup runs in the system scope, then the same transaction
    continues as the caller's tenant, saving a second transaction per request.
    """
    session.info["scope"] = tenant(account_id)
    session.execute(_SWITCH_TO_TENANT, {"account_id": str(account_id)})


def open_session(engine: Engine, scope: Scope | None, isolation: str | None = None) -> Session:
    bind = engine.execution_options(isolation_level=isolation) if isolation else engine
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
