"""Bearer-token authentication and role checks."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from db.engine import SYSTEM, tenant
from shared.errors import PermissionDenied, Unauthenticated
from shared.security.tokens import hash_token, looks_like_token
from web.auth_cache import Principal
from web.auth_lookups import find_token, token_needs_touch, touch_token
from web.db import begin_request
from web.state import state

F = TypeVar("F", bound=Callable[..., Any])

ENGINEER_UP = ("engineer", "admin", "owner")
ADMIN_UP = ("admin", "owner")
L1_UP = ("l1", "engineer", "admin", "owner")
ANY_ROLE = L1_UP  # every tenant role (operators are allowed per route with operator=True)


__all__ = ["ADMIN_UP", "ANY_ROLE", "ENGINEER_UP", "L1_UP", "Principal", "authenticate", "principal", "require"]


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
    if principal is None:  # not verified recently, or revoked since (see web/auth_cache.py)
        generation = cache.generation()
        row = find_token(state().engine, token_hash)  # one statement on the system role's pool
        if row is None:
            raise _unauthorized("invalid, expired or revoked token")
        principal = Principal(row.id, row.account_id, row.role, bool(row.is_operator), row.token_id, row.expires_at)
        if token_needs_touch(row, time.time()):  # in the token's own scope: a tenant's row as that tenant
            touch_token(state().engine, row.token_id, SYSTEM if principal.is_operator else tenant(row.account_id))
        cache.put(token_hash, principal, generation)
    begin_request(SYSTEM if principal.is_operator else tenant(principal.tenant_id))
    g.principal = principal
    return principal


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
