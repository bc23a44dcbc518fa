"""The people of an account, managed by its admins and owners: list, add, reset a password; and a person's own
password change.

Kept apart from shared/people.py (tokens and the password primitives) so the admin rules live in one place:
- an admin manages l1, engineer and admin users; only an owner creates owners or touches an owner's password;
- nobody resets their own password here (that is `change_own_password`, which asks for the current one);
- a password is either given (length rules of shared/security/passwords.py) or generated and returned once;
- resetting a password ends that user's sign-ins (their login tokens); API tokens for scripts stay.
Services flush; the request commits and then announces revocations.
"""
from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import ApiToken, User
from shared.errors import BadRequest, Conflict, Invalid, PermissionDenied, not_found
from shared.isotime import iso
from shared.pagination import next_cursor, page
from shared.people import set_password_hash_only
from shared.rows import pick
from shared.security.passwords import WeakPassword, check_strength, verify_password

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
GENERATED_BYTES = 15  # 20 URL-safe characters (~120 bits)
OWNER_ONLY = frozenset({"owner"})


@dataclass(frozen=True)
class Issued:
    """A user and the password to hand over once (None when the admin chose it)."""

    user: User
    generated_password: str | None


def user_row(u: User) -> dict[str, Any]:
    """A user as the admin page lists it (never the hash)."""
    return {**pick(u, "id", "email", "role", "is_active"), "can_sign_in": u.password_hash is not None,
            "created_at": iso(u.created_at)}


def list_users(db: Session, *, cursor: str | None, limit: int) -> tuple[list[User], str | None]:
    """The scope's users (operators have no account, so row-level security leaves them out), newest first."""
    stmt = select(User).where(User.is_operator.is_(False))
    return next_cursor(list(db.execute(page(stmt, User, cursor, limit)).scalars()), limit)


def _password(given: str | None) -> tuple[str, str | None]:
    """The password to store and the one to show (only a generated one is shown)."""
    if given is None:
        made = secrets.token_urlsafe(GENERATED_BYTES)
        return made, made
    try:
        check_strength(given)
    except WeakPassword as exc:
        raise Invalid("weak_password", str(exc), errors=[{"field": "password", "message": str(exc)}]) from None
    return given, None


def _may_manage(actor_role: str, target_role: str | None) -> None:
    if target_role in OWNER_ONLY and actor_role not in OWNER_ONLY:
        raise PermissionDenied("owner_only", "only an owner may create an owner or set an owner's password")


def _email_taken(email: str) -> Conflict:
    return Conflict("email_taken", f"a user already signs in with {email}",
                    errors=[{"field": "email", "message": "already in use"}])


def create_user(db: Session, *, account_id: uuid.UUID, actor_role: str, email: str, role: str,
                password: str | None) -> Issued:
    """Add a user who can sign in at once. Conflict `email_taken` when the address is in use (sign-in
    addresses are unique across accounts, case-insensitively)."""
    email = email.strip()
    if not EMAIL.match(email):
        raise Invalid("validation_failed", "the request body is invalid",
                      errors=[{"field": "email", "message": "an email address like name@example.com"}])
    _may_manage(actor_role, role)
    stored, shown = _password(password)
    if db.execute(select(User.id).where(func.lower(User.email) == email.lower())).first() is not None:
        raise _email_taken(email)
    user = User(id=uuid.uuid4(), account_id=account_id, email=email, role=role, is_operator=False)
    try:
        with db.begin_nested():  # another account's user with this address: a unique index answers
            db.add(user)
            db.flush()
            set_password_hash_only(db, user, stored)
    except IntegrityError:
        raise _email_taken(email) from None
    db.refresh(user)
    return Issued(user, shown)


def reset_password(db: Session, *, user_id: uuid.UUID, actor_id: uuid.UUID, actor_role: str,
                   password: str | None) -> tuple[Issued, int]:
    """Set another user's password (given or generated) and end their sign-ins; returns how many ended."""
    user = db.get(User, user_id, with_for_update=True)
    if user is None or user.is_operator:
        raise not_found("user", "user_not_found")
    if user.id == actor_id:
        raise BadRequest("own_password", "change your own password with POST /me/password (it asks for the current one)")
    _may_manage(actor_role, user.role)
    stored, shown = _password(password)
    set_password_hash_only(db, user, stored)
    ended = _end_sign_ins(db, user.id, keep=None)
    return Issued(user, shown), ended


def change_own_password(db: Session, *, user_id: uuid.UUID, current_token_id: uuid.UUID | None,
                        current_password: str, new_password: str) -> int:
    """The signed-in person changes their password; their other sign-ins end, this one stays."""
    user = db.get(User, user_id, with_for_update=True)
    if user is None or not verify_password(user.password_hash, current_password):
        # Not a 401: the token is fine, and a 401 would sign the person out of the page.
        raise BadRequest("wrong_password", "the current password is wrong",
                         errors=[{"field": "current_password", "message": "wrong password"}])
    try:
        check_strength(new_password)
    except WeakPassword as exc:
        raise Invalid("weak_password", str(exc), errors=[{"field": "new_password", "message": str(exc)}]) from None
    set_password_hash_only(db, user, new_password)
    return _end_sign_ins(db, user.id, keep=current_token_id)


def _end_sign_ins(db: Session, user_id: uuid.UUID, *, keep: uuid.UUID | None) -> int:
    stmt = (update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.kind == "login", ApiToken.revoked_at.is_(None))
            .values(revoked_at=func.now()).returning(ApiToken.id))
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    return len(db.execute(stmt).all())
