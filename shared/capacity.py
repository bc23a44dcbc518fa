"""Caps on concurrent external calls (LLM, PSA) across every worker process, globally and per tenant.

Built on Dramatiq's Redis concurrent rate limiter, so every worker on every host shares the slots.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from shared.errors import TransientError


class Capacity:
    """Global slots, plus per-tenant slots so one tenant's batch cannot take them all."""

    def __init__(self, client: redis.Redis, namespace: str, name: str, *, global_limit: int, tenant_limit: int,
                 wait_s: float = 20.0, ttl_ms: int = 180_000) -> None:
        self._backend = RedisBackend(client=client)
        self._prefix = f"{namespace}:capacity:{name}"
        self._name = name
        self._global = ConcurrentRateLimiter(self._backend, f"{self._prefix}:global", limit=global_limit, ttl=ttl_ms)
        self._tenant_limit = tenant_limit
        self._wait_s = wait_s
        self._ttl_ms = ttl_ms

    def _tenant(self, tenant: str) -> ConcurrentRateLimiter:
        return ConcurrentRateLimiter(
            self._backend, f"{self._prefix}:tenant:{tenant}", limit=self._tenant_limit, ttl=self._ttl_ms
        )

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        """Wait (bounded) for a tenant slot then a global slot; else a transient error the job retries."""
        deadline = time.monotonic() + self._wait_s
        held: list[ConcurrentRateLimiter] = []
        try:
            for limiter in (self._tenant(tenant), self._global):
                while not limiter._acquire():
                    if time.monotonic() >= deadline:
                        raise TransientError(f"{self._name}_capacity_exhausted", f"all {self._name} slots are busy",
                                             retry_after=2.0)
                    time.sleep(0.05)
                held.append(limiter)
            yield
        finally:
            for limiter in reversed(held):
                limiter._release()
