"""Verified API tokens, remembered per web process so a request does not look its token up every time.

The lookup was a quarter to a third of a request's CPU. Correctness rests on invalidation, not on the TTL:
whoever revokes a token publishes on `{namespace}:auth-changed` after the commit, and every process's pub/sub
listener clears its cache. The cache serves only while that listener is subscribed; while it is down (and
after it resubscribes, when messages may have been lost) every request asks Postgres. The TTL only bounds
what a lost message could cost. Only successful lookups are kept: an unknown token is never cached.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from shared.pubsub import Listener

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    account_id: uuid.UUID | None
    role: str | None
    is_operator: bool
    token_id: uuid.UUID | None = None  # the api_tokens row: what per-token caps count against
    expires_at: datetime | None = None  # a login token's end: the cache never serves it past this

    @property
    def tenant_id(self) -> uuid.UUID:
        """The caller's account, for tenant endpoints (which operators never reach: `require` refuses them)."""
        if self.account_id is None:
            raise RuntimeError("a platform operator has no tenant")
        return self.account_id


def auth_channel(namespace: str) -> str:
    return f"{namespace}:auth-changed"


def publish_auth_change(client: redis.Redis, namespace: str) -> None:
    """Tell every web process to forget the tokens it verified (call after the revoking commit).

    Raises on a Redis error: the caller must know that other processes may still trust the token
    for up to FLOWPILOT_AUTH_CACHE_S.
    """
    client.publish(auth_channel(namespace), b"1")


class PrincipalCache:
    def __init__(self, listener: Listener, namespace: str, *, ttl_s: float) -> None:
        self._listener = listener
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._generation = 0
        if ttl_s > 0:
            listener.on(auth_channel(namespace), lambda _channel: self.clear())
            listener.on_resubscribed(self.clear)

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    def generation(self) -> int:
        """Take this before a lookup and pass it to `put`: a clear() in between drops the stale result."""
        return self._generation

    def get(self, token_hash: str) -> Principal | None:
        if not self.enabled:
            return None
        self._listener.ensure_started()
        if not self._listener.healthy:
            return None
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal, generation: int) -> None:
        if not self.enabled or not self._listener.healthy:
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            ttl = self._ttl_s
            if principal.expires_at is not None:
                ttl = min(ttl, (principal.expires_at - datetime.now(UTC)).total_seconds())
            if ttl > 0:
                self._entries[token_hash] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
