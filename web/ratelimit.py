"""Per-tenant request rate limit: Flask-Limiter, with counters in Redis shared by every web process.

One application-wide limit per tenant (`FLOWPILOT_TENANT_RATE_LIMIT`, default "300/second;6000/minute"), whatever the
route: a tenant's engineers share it, and another tenant's requests never count against it. Not counted:
platform operators (they run the platform and are few), `/healthz` and `/metrics` (probes and scrapers),
`/api/v1/auth/*` (sign-in has its own failure throttle), pages and static files, and requests whose token does
not authenticate (they end in 401 before any work). A breach is 429 `rate_limited` problem+json with Retry-After
(web/problems.py). If Redis is unreachable, each process falls back to counting in memory until it is back.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_limiter import Limiter

from shared.settings import Settings
from web.auth import authenticate
from web.state import AppState

API_PREFIX = "/api/v1/"
NOT_COUNTED = ("/api/v1/auth/",)


def _not_counted() -> bool:
    """True for requests outside the tenant limit. Authenticates the caller (cached on `g` for the view)."""
    path = request.path
    if not path.startswith(API_PREFIX) or path.startswith(NOT_COUNTED):
        return True
    try:
        who = authenticate()
    except Exception:  # noqa: BLE001 - 401 (remembered on `g`) or a database error: the view answers either
        return True
    return who.is_operator


def _tenant_key() -> str:
    return f"tenant:{g.principal.account_id}"


def init_app(app: Flask, state: AppState) -> Limiter | None:
    settings: Settings = state.settings
    limits = settings.flowpilot_tenant_rate_limit.strip()
    if not limits:
        return None
    # Share the app's Redis connection pool; keys live under the namespace like everything else we own.
    storage: Any = {"connection_pool": state.redis.connection_pool, "key_prefix": f"{state.namespace}:ratelimit"}
    limiter = Limiter(
        key_func=_tenant_key,
        application_limits=[limits],
        strategy="sliding-window-counter",
        storage_uri=settings.redis_url,
        storage_options=storage,
        headers_enabled=False,  # X-RateLimit-* on every response would cost a second Redis call per request
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.request_filter(_not_counted)
    limiter.init_app(app)
    return limiter
