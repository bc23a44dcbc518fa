"""The lookups that run before the tenant is known, in the system scope: a bearer token, a sign-in email.

Row-level security cannot scope them (the tenant is what they find out), so they are kept together here,
small and explicit: a later hardening step can move each into a SECURITY DEFINER function in one place.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, String, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from db.engine import SYSTEM, Scope
from db.models import ApiToken, User
from db.oneshot import OneShot, run

# How often last_used_at is written for a token at most: a busy token costs one UPDATE a minute.
TOUCH_EVERY_S = 60

_users, _tokens = User.__table__.c, ApiToken.__table__.c
# One statement on the system role's pool (db/oneshot.py): the request role never sees the system scope.
_TOKEN = OneShot.of(
    "SELECT users.id, users.account_id, users.role, users.is_operator, api_tokens.id AS token_id, "
    "api_tokens.expires_at, api_tokens.last_used_at FROM api_tokens JOIN users ON users.id = api_tokens.user_id "
    "WHERE api_tokens.token_hash = :token_hash AND api_tokens.revoked_at IS NULL AND users.is_active "
    "AND (api_tokens.expires_at IS NULL OR api_tokens.expires_at > now())",
    bindparam("token_hash", type_=String()),
    columns=[_users.id, _users.account_id, _users.role, _users.is_operator,
             column("token_id", UUID(as_uuid=True)), _tokens.expires_at, _tokens.last_used_at],
)

_LOGIN_USER = (
    select(User.id, User.account_id, User.role, User.is_operator, User.email, User.password_hash)
    .where(func.lower(User.email) == func.lower(bindparam("email")), User.password_hash.is_not(None),
           User.is_active)
)

_TOUCH = OneShot.of(
    "UPDATE api_tokens SET last_used_at = now() WHERE id = :token_id "
    f"AND (last_used_at IS NULL OR last_used_at < now() - interval '{TOUCH_EVERY_S} seconds') RETURNING id",
    bindparam("token_id"),
)


def find_token(engine: Engine, token_hash: str) -> Any:
    """The live token's user (not revoked, not expired, user active), or None."""
    rows = run(engine, SYSTEM, _TOKEN, {"token_hash": token_hash})
    return rows[0] if rows else None


def find_login_user(db: Session, email: str) -> Any:
    """The active user who signs in with this email (case-insensitive), or None. `db` is in the system scope."""
    return db.execute(_LOGIN_USER, {"email": email.strip()}).first()


def token_needs_touch(row: Any, now_s: float) -> bool:
    last = row.last_used_at
    return last is None or now_s - last.timestamp() >= TOUCH_EVERY_S


def touch_token(engine: Any, token_id: uuid.UUID, scope: Scope) -> None:
    """Record use, on its own connection: it holds whatever the request's outcome (a 404 is still a use)."""
    run(engine, scope, _TOUCH, {"token_id": str(token_id)})
