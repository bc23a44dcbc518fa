"""Sign-in attempt limits: failures counted per email and per client address in Redis, in fixed windows.

An attempt is counted before the password is checked (so parallel guesses cannot slip past the limit while
they are being verified) and taken back when it succeeds. Once either counter is over its limit, every
attempt for that email or from that address answers 429 `too_many_attempts` with the seconds until the
window ends, even with the right password. Emails are hashed in key names, never stored in the clear.
If Redis is unreachable sign-in is refused (503): without counters there is no limit on guessing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

from shared.errors import RateLimited, Unavailable


@dataclass(frozen=True)
class LoginLimits:
    per_email: int = 5
    per_address: int = 20
    window_s: int = 900


class LoginThrottle:
    def __init__(self, client: redis.Redis, namespace: str, limits: LoginLimits) -> None:
        self._redis = client
        self._prefix = f"{namespace}:login-fail"
        self._limits = limits

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"{self._prefix}:email:{digest}", f"{self._prefix}:addr:{address or 'unknown'}"

    def attempt(self, email: str, address: str) -> None:
        """Count this attempt; RateLimited when the email or the address is over its limit."""
        email_key, addr_key = self._keys(email, address)
        window = self._limits.window_s
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(email_key)
            pipe.expire(email_key, window, nx=True)
            pipe.incr(addr_key)
            pipe.expire(addr_key, window, nx=True)
            pipe.ttl(email_key)
            pipe.ttl(addr_key)
            email_n, _, addr_n, _, email_ttl, addr_ttl = pipe.execute()
        except redis.RedisError:
            raise Unavailable("sign_in_unavailable", "sign-in is unavailable right now; try again shortly") from None
        waits = []
        if int(email_n) > self._limits.per_email:
            waits.append(int(email_ttl))
        if int(addr_n) > self._limits.per_address:
            waits.append(int(addr_ttl))
        if waits:
            retry_after = max(1, max(waits))
            raise RateLimited("too_many_attempts", "too many failed sign-in attempts; try again later",
                              retry_after=retry_after, extra={"retry_after_s": retry_after})

    def succeeded(self, email: str, address: str) -> None:
        """A correct password: forget the email's failures and take this attempt off the address's count."""
        email_key, addr_key = self._keys(email, address)
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(email_key)
            pipe.decr(addr_key)
            pipe.execute()
        except redis.RedisError:
            pass  # the counters only over-count until the window ends
