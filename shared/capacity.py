"""Caps on concurrent external calls (LLM, PSA) across every worker process, globally and per tenant.

A semaphore per scope in Redis: a sorted set of holder tokens scored by their expiry, so a holder
that dies (SIGKILL) frees its slot after `ttl`. Acquiring the tenant and the global slot is one
atomic Lua call (both or neither), releasing is one more: two round trips per guarded call.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from shared.errors import TransientError

_ACQUIRE = """
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local token = ARGV[3]
for i, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if redis.call('ZCARD', k) >= tonumber(ARGV[3 + i]) then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, expiry, token)
  redis.call('PEXPIRE', k, tonumber(ARGV[2]))
end
return 1
"""


class CapacityBusy(TransientError):
    """Every slot is taken. A job does not wait for one in its thread: it is postponed (workers/context.py)."""


class Capacity:
    """Global slots, plus per-tenant slots so one tenant's batch cannot take them all.

    `wait_s` bounds how long `slot()` polls for a free slot; 0 (what workers use) tries exactly once.
    """

    def __init__(self, client: redis.Redis, namespace: str, name: str, *, global_limit: int, tenant_limit: int,
                 wait_s: float = 20.0, ttl_ms: int = 180_000) -> None:
        self._client = client
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._prefix = f"{namespace}:capacity:{name}"
        self._name = name
        self._limits = (tenant_limit, global_limit)
        self._wait_s = wait_s
        self._ttl_ms = ttl_ms
        # Slots this process holds (token -> keys): `renew()` keeps them alive while the process is.
        self._held: dict[str, list[str]] = {}
        self._held_lock = threading.Lock()

    def _keys(self, tenant: str) -> list[str]:
        return [f"{self._prefix}:tenant:{tenant}", f"{self._prefix}:global"]

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        """Wait (bounded by `wait_s`) for a tenant and a global slot; else CapacityBusy."""
        keys, token = self._keys(tenant), uuid.uuid4().hex
        deadline = time.monotonic() + self._wait_s
        delay = 0.005
        while not self._acquire(keys=keys, args=[int(time.time() * 1000), self._ttl_ms, token, *self._limits]):
            if time.monotonic() >= deadline:
                raise CapacityBusy(f"{self._name}_capacity_exhausted", f"all {self._name} slots are busy",
                                   retry_after=2.0)
            time.sleep(delay)
            delay = min(0.1, delay * 2)
        with self._held_lock:
            self._held[token] = keys
        try:
            yield
        finally:
            with self._held_lock:
                self._held.pop(token, None)
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.zrem(key, token)
            pipe.execute()

    def renew(self) -> None:
        """Move the expiry of every slot held by this process `ttl` ahead (the worker heartbeat calls this).

        So `ttl` only has to outlast a missed beat, not the longest guarded call: a holder that was
        SIGKILLed stops renewing and its slot frees within `ttl`.
        """
        with self._held_lock:
            held = list(self._held.items())
        if not held:
            return
        expiry = int(time.time() * 1000) + self._ttl_ms
        pipe = self._client.pipeline(transaction=False)
        for token, keys in held:
            for key in keys:
                pipe.zadd(key, {token: expiry}, xx=True)  # xx: a slot released meanwhile stays released
                pipe.pexpire(key, self._ttl_ms)
        pipe.execute()

    def in_use(self, tenant: str | None = None) -> int:
        key = self._keys(tenant)[0] if tenant else f"{self._prefix}:global"
        return int(self._client.zcount(key, int(time.time() * 1000), "+inf"))
