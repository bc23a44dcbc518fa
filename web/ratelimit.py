"""Per-tenant request rate limit, with counters in Redis shared by every web process.

One budget per tenant (`FLOWPILOT_TENANT_RATE_LIMIT`, default "1000/10 seconds"), whatever the route: a tenant's
users share it, and another tenant's requests never count against it. Not counted: platform operators (they run
the platform and are few), `/healthz` and `/metrics` (probes and scrapers), `/api/v1/auth/*` (sign-in has its own
failure throttle), pages and static files, and requests whose token does not authenticate (they end in 401 before
any work). A breach raises RateLimited("rate_limited"), which web/problems.py answers 429 with Retry-After.

The counting is the `limits` library's sliding-window counter (the engine under Flask-Limiter; one Lua call per
request and limit). Measured on a cached GET /jobs/{id} (0.71 ms of CPU without a limit): this module adds
0.42 ms, Flask-Limiter counting the same 0.77 ms (tests/bench/bench_ratelimit_cost.py). If Redis cannot be
reached, each process counts in its own memory: its counter client gives up after 0.5 s, and after a failure the
process does not ask Redis again for `RETRY_REDIS_S`, so a black-holed Redis never holds requests up.
"""
from __future__ import annotations

import logging
import time

import redis
from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from shared.errors import RateLimited
from web.auth import authenticate
from web.state import AppState

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
REDIS_TIMEOUT_S = 0.5  # the counter is one Lua call: a Redis that does not answer this fast is treated as down
RETRY_REDIS_S = 5.0  # after a failure, count in memory this long before asking Redis again
NOT_COUNTED = ("/api/v1/auth/",)


def _counted_tenant() -> str | None:
    """The tenant this request counts against, or None. Authenticates the caller (kept on `g` for the view)."""
    path = request.path
    if not path.startswith(API_PREFIX) or path.startswith(NOT_COUNTED):
        return None
    try:
        who = authenticate()
    except Exception:  # noqa: BLE001 - 401 (remembered on `g`) or a database error: the view answers either
        return None
    return None if who.is_operator else str(who.account_id)


class TenantRateLimit:
    def __init__(self, state: AppState, limits: str) -> None:
        self.items: list[RateLimitItem] = parse_many(limits)
        client = redis.Redis.from_url(state.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                      socket_connect_timeout=REDIS_TIMEOUT_S)
        storage = RedisStorage(state.settings.redis_url, connection_pool=client.connection_pool,
                               key_prefix=f"{state.namespace}:ratelimit")
        self.shared = SlidingWindowCounterRateLimiter(storage)
        self.local = SlidingWindowCounterRateLimiter(MemoryStorage())  # while Redis is unreachable
        self._warned = False
        self._redis_down_until = 0.0

    def check(self) -> None:
        tenant = _counted_tenant()
        if tenant is None:
            return
        for item in self.items:
            limiter = self.shared if time.monotonic() >= self._redis_down_until else self.local
            try:
                allowed = limiter.hit(item, "tenant", tenant)
                self._warned = limiter is self.local and self._warned
            except redis.RedisError as exc:
                if not self._warned:
                    log.warning("tenant rate limit counted in process memory: Redis unreachable (%s)", type(exc).__name__)
                    self._warned = True
                self._redis_down_until = time.monotonic() + RETRY_REDIS_S
                limiter = self.local
                allowed = limiter.hit(item, "tenant", tenant)
            if not allowed:
                reset_at = limiter.get_window_stats(item, "tenant", tenant).reset_time
                raise RateLimited("rate_limited", f"too many requests for this account (limit {item}); retry later",
                                  retry_after=max(1.0, reset_at - time.time()), extra={"limit": str(item)})


def init_app(app: Flask, state: AppState) -> TenantRateLimit | None:
    limits = state.settings.flowpilot_tenant_rate_limit.strip()
    if not limits:
        return None
    limiter = TenantRateLimit(state, limits)
    app.before_request(limiter.check)
    return limiter
