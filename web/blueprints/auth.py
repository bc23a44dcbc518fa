"""Sign-in for people, who am I, and an admin's view of the account's tokens.

`POST /auth/login` is public: it finds the user by email in the system scope (web/auth_lookups.py), checks
the password in constant time (an unknown email costs the same as a wrong password, and both answer the same
401 `invalid_credentials`), and issues a login token that expires. Attempts are limited per email and per
client address (shared/security/login_throttle.py). Revocations take effect in every web process at once.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import Field

from db.engine import SYSTEM
from db.models import User
from shared import people
from shared.errors import Unauthenticated, not_found
from shared.isotime import iso
from shared.security.passwords import MAX_LENGTH, needs_rehash, verify_password
from web.auth import ADMIN_UP, ANY_ROLE, principal, require
from web.auth_lookups import find_login_user
from web.db import after_commit, begin_request, db
from web.openapi import doc
from web.revocation import announce_revocation
from web.state import state
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


class Login(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class TokenList(Strict):
    include_inactive: bool = False
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/auth/login")
@doc("Sign in with email and password: a login token that expires", body=Login)
def login() -> Any:
    body = parse_body(Login)
    st = state()
    address = request.remote_addr or ""
    st.login_throttle.attempt(body.email, address)
    begin_request(SYSTEM)  # the tenant is what this finds out
    user = find_login_user(db(), body.email)
    # verify_password runs argon2 off the event loop (shared/offload.py).
    if not verify_password(user.password_hash if user is not None else None, body.password) or user is None:
        raise Unauthenticated("invalid_credentials", "the email or the password is wrong")
    st.login_throttle.succeeded(body.email, address)
    if needs_rehash(user.password_hash):
        stored = db().get(User, user.id)
        if stored is not None:
            people.set_password_hash_only(db(), stored, body.password)
    expires_at = datetime.now(UTC) + timedelta(seconds=st.settings.flowpilot_login_token_ttl_s)
    token, _ = people.issue_token(db(), user, kind="login", expires_at=expires_at)
    return _no_store(jsonify({"token": token, "expires_at": iso(expires_at), "user": people.user_to_dict(user)}))


@bp.post("/auth/logout")
@require(*ANY_ROLE, operator=True)
@doc("Sign out: revoke the token this request carries", status=204)
def logout() -> Any:
    token_id = principal().token_id
    if token_id is not None:
        people.revoke_token(db(), token_id)
        after_commit(announce_revocation)
    return Response(status=204)


@bp.get("/me")
@require(*ANY_ROLE, operator=True)
@doc("The signed-in user")
def me() -> Any:
    p = principal()
    user = db().get(User, p.user_id)
    if user is None:  # deleted since the token was checked
        raise Unauthenticated("unauthorized", "the user no longer exists")
    return _no_store(jsonify({**people.user_to_dict(user), "token_expires_at": iso(p.expires_at)}))


@bp.get("/tokens")
@require(*ADMIN_UP)
@doc("The account's bearer tokens (active ones unless include_inactive), newest first", query=TokenList)
def list_tokens() -> Any:
    q = parse_query(TokenList)
    rows, cursor = people.list_tokens(db(), include_inactive=q.include_inactive, cursor=q.cursor, limit=q.limit)
    current = principal().token_id
    return jsonify({"items": [people.token_to_dict(r.token, r.email, current_id=current) for r in rows],
                    "next_cursor": cursor})


@bp.delete("/tokens/<uuid:token_id>")
@require(*ADMIN_UP)
@doc("Revoke one of the account's tokens")
def revoke(token_id: uuid.UUID) -> Any:
    row = people.revoke_token(db(), token_id)
    if row is None:
        raise not_found("token", "token_not_found")
    after_commit(announce_revocation)
    email = db().get(User, row.user_id)
    return jsonify(people.token_to_dict(row, email.email if email else None, current_id=principal().token_id))
