"""Bearer-token authentication and role checks."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import String, bindparam

from db.engine import SYSTEM, tenant
from db.models import User
from db.oneshot import OneShot, run
from shared.errors import PermissionDenied, Unauthenticated
from shared.security.tokens import hash_token, looks_like_token
from web.auth_cache import Principal
from web.db import begin_request
from web.state import state

F = TypeVar("F", bound=Callable[..., Any])

ENGINEER_UP = ("engineer", "admin", "owner")
ADMIN_UP = ("admin", "owner")
L1_UP = ("l1", "engineer", "admin", "owner")


__all__ = ["ADMIN_UP", "ENGINEER_UP", "L1_UP", "Principal", "authenticate", "principal", "require"]


def _unauthorized(detail: str) -> Unauthenticated:
    return Unauthenticated("unauthorized", detail, extra={})


def authenticate() -> Principal:
    """Resolve the bearer token once per request, then open the request's unit of work in the caller's scope.

    The lookup is the one statement a tenant request runs in the system scope (the tenant is not known yet):
    a one-shot on the system role's pool. Everything after it runs as the request role, in the tenant's scope
    (operators: the system scope, on the system role).
    """
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
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
    if principal is None:  # not verified recently, or revoked since (see web/auth_cache.py)
        generation = cache.generation()
        rows = run(state().engine, SYSTEM, _LOOKUP, {"token_hash": token_hash})
        if not rows:
            raise _unauthorized("invalid or revoked token")
        row = rows[0]
        principal = Principal(row.id, row.account_id, row.role, bool(row.is_operator))
        cache.put(token_hash, principal, generation)
    begin_request(SYSTEM if principal.is_operator else tenant(principal.tenant_id))
    g.principal = principal
    return principal


_users = User.__table__.c
_LOOKUP = OneShot.of(
    "SELECT users.id, users.account_id, users.role, users.is_operator FROM api_tokens "
    "JOIN users ON users.id = api_tokens.user_id "
    "WHERE api_tokens.token_hash = :token_hash AND api_tokens.revoked_at IS NULL AND users.is_active",
    bindparam("token_hash", type_=String()),
    columns=[_users.id, _users.account_id, _users.role, _users.is_operator],
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
