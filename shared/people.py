"""People and their credentials: issue, list and revoke bearer tokens; set passwords.

Services flush; the caller (request, CLI) commits and then announces revocations (web/revocation.py).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from db.base import db_now
from db.models import ApiToken, User
from shared.isotime import iso
from shared.pagination import next_cursor, page
from shared.security.passwords import check_strength, hash_password
from shared.security.tokens import display_prefix, generate_token, hash_token


def issue_token(db: Session, user: Any, *, kind: str = "api", expires_at: datetime | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for `user` (a User or a row with id/account_id); the plaintext is returned once."""
    token = generate_token()
    row = ApiToken(id=uuid.uuid4(), account_id=user.account_id, user_id=user.id, token_hash=hash_token(token),
                   prefix=display_prefix(token), kind=kind, expires_at=expires_at)
    db.add(row)
    db.flush()
    return token, row


def revoke_token(db: Session, token_id: uuid.UUID) -> ApiToken | None:
    """Revoke one token visible in the current scope (idempotent); None when there is no such token."""
    row = db.get(ApiToken, token_id, with_for_update=True)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = db_now()
        db.flush()
        db.refresh(row)
    return row


def revoke_login_tokens(db: Session, user_id: uuid.UUID) -> int:
    """Sign a user out everywhere (after a password change); API tokens for scripts stay."""
    return len(db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.kind == "login", ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiToken.id)
    ).all())


def list_tokens(db: Session, *, include_inactive: bool, cursor: str | None, limit: int
                ) -> tuple[list[Any], str | None]:
    """The scope's tokens with their user's email, newest first."""
    stmt: Any = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
    if not include_inactive:
        stmt = stmt.where(ApiToken.revoked_at.is_(None),
                          or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()))
    rows = [_Listed(t, email) for t, email in db.execute(page(stmt, ApiToken, cursor, limit)).all()]
    return next_cursor(rows, limit)


class _Listed:
    """A token and its user's email, with the attributes the cursor helpers read."""

    def __init__(self, token: ApiToken, email: str) -> None:
        self.token, self.email = token, email
        self.created_at, self.id = token.created_at, token.id


def token_to_dict(t: ApiToken, email: str | None = None, *, current_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "prefix": t.prefix,
        "kind": t.kind,
        "user_id": str(t.user_id),
        "user_email": email,
        "created_at": iso(t.created_at),
        "last_used_at": iso(t.last_used_at),
        "expires_at": iso(t.expires_at),
        "revoked_at": iso(t.revoked_at),
        "current": t.id == current_id,
    }


def user_to_dict(u: Any) -> dict[str, Any]:
    """The user as clients see it; platform operators have the role `operator` and no account."""
    return {
        "id": str(u.id),
        "email": u.email,
        "role": "operator" if u.is_operator else u.role,
        "account_id": str(u.account_id) if u.account_id else None,
        "is_operator": bool(u.is_operator),
    }


def set_password(db: Session, user: User, password: str) -> int:
    """Store the new hash and end the user's sign-ins; returns how many login tokens were revoked.

    Raises WeakPassword (a ValueError) when the password breaks the length rules.
    """
    check_strength(password)
    set_password_hash_only(db, user, password)
    return revoke_login_tokens(db, user.id)


def set_password_hash_only(db: Session, user: User, password: str) -> None:
    """Store a fresh hash of the same password (after sign-in, when the hashing parameters were raised)."""
    user.password_hash = hash_password(password)
    db.flush()


def find_users_by_email(db: Session, email: str, account_id: uuid.UUID | None = None) -> list[User]:
    """Users with this email (case-insensitive) in the scope, optionally in one account (CLI use)."""
    stmt = select(User).where(func.lower(User.email) == email.strip().lower())
    if account_id is not None:
        stmt = stmt.where(User.account_id == account_id)
    return list(db.execute(stmt).scalars())
