"""People of the account (admin, owner): list users, add one, reset a password; and anyone's own password change.

A generated password is in the response once (`password`), never stored in plain text or logged; the page shows
it to the admin to hand over. Ending sign-ins is announced to every web process after the commit.
"""
from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import Field

from db.models import User
from shared import account_users
from shared.errors import Unauthenticated
from shared.security.passwords import MAX_LENGTH
from web.auth import ADMIN_UP, ANY_ROLE, principal, require
from web.db import after_commit, db
from web.openapi import doc
from web.revocation import announce_revocation
from web.state import state
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("people", __name__, url_prefix="/api/v1")


class UserList(Strict):
    limit: int = Field(default=100, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320)
    role: Literal["l1", "engineer", "admin", "owner"]
    password: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH,
                                 description="omit to have one generated (shown once in the response)")


class PasswordReset(Strict):
    password: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH,
                                 description="omit to have one generated (shown once in the response)")


class OwnPassword(Strict):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _issued(issued: account_users.Issued, **extra: Any) -> dict[str, Any]:
    return {"user": account_users.user_row(issued.user), "password": issued.generated_password, **extra}


@bp.get("/users")
@require(*ADMIN_UP)
@doc("The account's users with their role, newest first", query=UserList)
def list_users() -> Any:
    q = parse_query(UserList)
    rows, cursor = account_users.list_users(db(), cursor=q.cursor, limit=q.limit)
    return jsonify({"items": [account_users.user_row(u) for u in rows], "next_cursor": cursor})


@bp.post("/users")
@require(*ADMIN_UP)
@doc("Add a user who signs in with a password (given, or generated and shown once); only owners add owners",
     body=UserCreate, status=201)
def create_user() -> Any:
    body = parse_body(UserCreate)
    p = principal()
    issued = account_users.create_user(db(), account_id=p.tenant_id, actor_role=str(p.role), email=body.email,
                                       role=body.role, password=body.password)
    return _no_store(jsonify(_issued(issued))), 201


@bp.post("/users/<uuid:user_id>/password")
@require(*ADMIN_UP)
@doc("Set another user's password (given, or generated and shown once); their sign-ins end", body=PasswordReset)
def reset_password(user_id: uuid.UUID) -> Any:
    body = parse_body(PasswordReset)
    p = principal()
    issued, ended = account_users.reset_password(db(), user_id=user_id, actor_id=p.user_id, actor_role=str(p.role),
                                                 password=body.password)
    if ended:
        after_commit(announce_revocation)
    return _no_store(jsonify(_issued(issued, sign_ins_ended=ended)))


@bp.post("/me/password")
@require(*ANY_ROLE, operator=True)
@doc("Change your own password (the current one is asked); your other sign-ins end, this one stays",
     body=OwnPassword, status=204)
def change_own_password() -> Any:
    body = parse_body(OwnPassword)
    p = principal()
    me = db().get(User, p.user_id)
    if me is None:
        raise Unauthenticated("unauthorized", "the user no longer exists")
    throttle = state().login_throttle
    address = request.remote_addr or ""
    throttle.attempt(me.email, address)  # the current password is a guess like a sign-in's
    ended = account_users.change_own_password(db(), user_id=p.user_id, current_token_id=p.token_id,
                                              current_password=body.current_password, new_password=body.new_password)
    throttle.succeeded(me.email, address)
    if ended:
        after_commit(announce_revocation)
    return Response(status=204)
