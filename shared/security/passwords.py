"""Password hashing for people who sign in: argon2id through argon2-cffi (RFC 9106 low-memory profile).

Verification takes the same time whether or not the user exists: an unknown email is checked against a
dummy hash, so the answer's timing does not tell which emails have accounts. Passwords are never logged
or stored; only the PHC string (`$argon2id$v=19$m=...`) is.
"""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.offload import offload

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing cost does not grow with length, but a bound keeps bodies and memory small

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """The password does not meet the length rules (said in words, never echoing the password)."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The PHC string for `password` (callers setting a new password run check_strength first).

    argon2 is ~50 ms of C: under the gevent web worker it runs on a native thread (shared/offload.py), so the
    process's other requests and parked long-polls keep going meanwhile."""
    return offload(_hasher.hash, password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("flowpilot-no-such-user-password")


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a missing hash costs a full verification too (constant time).
    Off the event loop like hash_password."""
    return offload(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """The hash was made with older parameters than the current ones (rehash after a successful sign-in)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
