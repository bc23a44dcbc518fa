"""At most N parked long-polls per API token, counted across every web process.

A parked wait costs little (a greenlet and a socket, see web/gunicorn_conf.py), but not nothing: without a cap one
client could hold every connection a web process accepts. The count lives in Redis so that all processes share it:
one sorted set per token whose members are the parked waits, scored by the moment each must have ended (its
deadline plus a grace). A wait whose process died is forgotten once that moment passes, so a crash never leaks a
slot for longer than the longest wait. Taking a slot is one atomic Lua call, giving it back one ZREM.

If Redis cannot be reached the wait is allowed (fail open): the pub/sub listener is down too, parked waits then
re-read once a second (shared/jobs/notify.py), and the web server's own connection limit still bounds a process.
"""
from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from shared.errors import RateLimited

log = logging.getLogger(__name__)

# Returns {1, 0} when the slot was taken, else {0, ms until the earliest current wait must have ended}.
_TAKE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return {1, 0}
"""

# How long past its own deadline a wait may still be counted (the re-read and the response after it).
GRACE_MS = 5_000


@dataclass(frozen=True)
class WaitSlot:
    key: str
    member: str


class WaitCap:
    def __init__(self, client: redis.Redis, namespace: str, *, limit: int, max_wait_s: float) -> None:
        self._client = client
        self._take: Any = client.register_script(_TAKE)
        self._prefix = f"{namespace}:waits:"
        self._limit = limit
        self._ttl_ms = int(max_wait_s * 1000) + GRACE_MS

    @property
    def enabled(self) -> bool:
        return self._limit > 0

    def take(self, token_id: uuid.UUID | str, wait_s: float) -> WaitSlot | None:
        """A slot for one parked wait of `wait_s` seconds, or RateLimited("too_many_waits") with Retry-After.

        None when the cap is off or Redis is unreachable (nothing to give back).
        """
        if not self.enabled:
            return None
        key, member = f"{self._prefix}{token_id}", uuid.uuid4().hex
        now_ms = int(time.time() * 1000)
        try:
            taken, wait_ms = self._take(keys=[key], args=[now_ms, self._limit, now_ms + int(wait_s * 1000) + GRACE_MS,
                                                          member, self._ttl_ms])
        except redis.RedisError as exc:
            log.debug("wait cap not checked (%s); allowing the wait", type(exc).__name__)
            return None
        if not taken:
            raise RateLimited(
                "too_many_waits",
                f"this token already has {self._limit} long-polls parked; wait for one to return, or poll without ?wait",
                retry_after=max(1, math.ceil((int(wait_ms) - GRACE_MS) / 1000)),  # when its deadline passes
                extra={"max_waits_per_token": self._limit},
            )
        return WaitSlot(key, member)

    def give_back(self, slot: WaitSlot | None) -> None:
        if slot is None:
            return
        try:
            self._client.zrem(slot.key, slot.member)
        except redis.RedisError as exc:  # it expires by itself after the wait's deadline
            log.debug("wait slot not returned (%s); it expires on its own", type(exc).__name__)

    def parked(self, token_id: uuid.UUID | str) -> int:
        """Waits counted for this token now (tests, diagnostics)."""
        return int(self._client.zcount(f"{self._prefix}{token_id}", int(time.time() * 1000), "+inf"))
