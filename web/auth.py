"""Bearer-token authentication and role checks."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import bindparam, select

from db.engine import SYSTEM, tenant
from db.models import ApiToken, User
from shared.errors import PermissionDenied, Unauthenticated
from shared.security.tokens import hash_token, looks_like_token
from web.auth_cache import Principal
from web.db import begin_request, db, narrow_request_to_tenant
from web.state import state

F = TypeVar("F", bound=Callable[..., Any])

ENGINEER_UP = ("engineer", "admin", "owner")
ADMIN_UP = ("admin", "owner")
L1_UP = ("l1", "engineer", "admin", "owner")


__all__ = ["ADMIN_UP", "ENGINEER_UP", "L1_UP", "Principal", "authenticate", "principal", "require"]


def _unauthorized(detail: str) -> Unauthenticated:
    return Unauthenticated("unauthorized", detail, extra={})


def authenticate() -> Principal:
    """Resolve the bearer token once per request (system scope: the tenant is not known yet)."""
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
    failed: Unauthenticated | None = g.get("auth_failure")
    if failed is not None:  # the rate limiter already asked (web/ratelimit.py): one lookup per request
        raise failed
    try:
        return _authenticate()
    except Unauthenticated as err:
        g.auth_failure = err
        raise


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    token = token.strip()
    if not looks_like_token(token):
        raise _unauthorized("invalid token")
    token_hash = hash_token(token)
    cache = state().principals
    principal = cache.get(token_hash)
    if principal is not None:  # verified recently, and no revocation since (see web/auth_cache.py)
        begin_request(SYSTEM if principal.is_operator else tenant(principal.account_id))  # type: ignore[arg-type]
        g.principal = principal
        return principal
    # One transaction per request: the lookup runs in the system scope, then it narrows to the tenant.
    generation = cache.generation()
    begin_request(SYSTEM)
    row = db().execute(_LOOKUP, {"token_hash": token_hash}).first()
    if row is None:
        raise _unauthorized("invalid or revoked token")
    principal = Principal(row.id, row.account_id, row.role, bool(row.is_operator), row.token_id)
    if not principal.is_operator:
        narrow_request_to_tenant(row.account_id)
    cache.put(token_hash, principal, generation)
    g.principal = principal
    return principal


_LOOKUP = (
    select(User.id, User.account_id, User.role, User.is_operator, ApiToken.id.label("token_id"))
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None), User.is_active)
)


def require(*roles: str, operator: bool = False) -> Callable[[F], F]:
    """Allow tenant users with one of `roles`; platform operators only when `operator`."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if principal.is_operator:
                if not operator:
                    raise PermissionDenied("forbidden", "platform operators cannot use tenant endpoints")
            elif principal.role not in roles:
                raise PermissionDenied("forbidden", f"this action needs one of the roles: {', '.join(roles)}")
            return fn(*args, **kwargs)

        wrapper.__dict__["required_roles"] = roles
        wrapper.__dict__["operator_allowed"] = operator
        return wrapper  # type: ignore[return-value]

    return decorator


def principal() -> Principal:
    p: Principal = g.principal
    return p
