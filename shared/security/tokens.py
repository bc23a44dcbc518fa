"""API token helpers: mint, hash for storage, and cheap shape checks.

Only the hash of a token is ever stored; the plaintext is shown to the user once.
"""
from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "fp_"
"""Recognisable prefix so leaked tokens are easy to grep for and secret scanners can flag them."""

_ENTROPY_BYTES = 32
_DISPLAY_LEN = 10
# token_urlsafe(32) yields 43 chars; accept a small band so a future length bump stays valid.
_TOKEN_RE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{40,64}")


def generate_token() -> str:
    """Return a new random API token (``fp_`` + 256 bits of URL-safe randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_ENTROPY_BYTES)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token`` for storage and lookup.

    A fast, unsalted hash is correct here: tokens carry 256 bits of entropy, so
    brute force is infeasible and a slow KDF (bcrypt/argon2) would only make every
    authenticated request expensive. Determinism lets auth look tokens up by hash.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """Return the first 10 chars, safe to store and show so users can tell tokens apart."""
    return token[:_DISPLAY_LEN]


def looks_like_token(s: str) -> bool:
    """Return True if ``s`` has a token's prefix, charset and length.

    Lets auth reject junk (wrong scheme, pasted passwords, huge headers) before
    touching the database.
    """
    return isinstance(s, str) and _TOKEN_RE.fullmatch(s) is not None
