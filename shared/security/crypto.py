"""Encryption of tenant PSA credentials at rest, bound to the owning account.

Each master key is expanded with HKDF into a per-account Fernet key, so a
ciphertext copied into another tenant's row fails to decrypt instead of leaking
one tenant's PSA credentials through another. Several master keys may be
configured: the first encrypts, all decrypt, which allows key rotation.
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO_PREFIX = b"flowpilot-psa-credentials:"
_FERNET_KEY_BYTES = 32
_CACHE_MAX = 1024


class CredentialDecryptError(Exception):
    """Ciphertext could not be decrypted for this account (wrong key, tenant or tampering).

    The message never includes key material or plaintext.
    """


def generate_key() -> str:
    """Return a fresh master key in the format ``CredentialCipher`` expects."""
    return Fernet.generate_key().decode("ascii")


def _decode_master_key(key: str, index: int) -> bytes:
    """Validate one configured key; errors name only its position, never its value."""
    if not isinstance(key, str):
        raise ValueError(f"credential key #{index} must be a string")
    raw: bytes | None
    try:
        raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = None  # raise outside the handler: the decode error's context holds the key
    if raw is None:
        raise ValueError(f"credential key #{index} is not valid urlsafe base64")
    if len(raw) != _FERNET_KEY_BYTES:
        raise ValueError(f"credential key #{index} must decode to {_FERNET_KEY_BYTES} bytes")
    return raw


class CredentialCipher:
    """Encrypts/decrypts a tenant's PSA credential dict under keys derived per account."""

    __slots__ = ("_master_keys", "_cache", "_lock")

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one credential encryption key is required")
        self._master_keys: tuple[bytes, ...] = tuple(
            _decode_master_key(k, i) for i, k in enumerate(keys)
        )
        self._cache: dict[uuid.UUID, MultiFernet] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CredentialCipher keys={len(self._master_keys)} (redacted)>"

    def _fernet_for(self, account_id: uuid.UUID) -> MultiFernet:
        """Return (and cache) the MultiFernet for ``account_id``; HKDF per call would add up."""
        if not isinstance(account_id, uuid.UUID):
            raise TypeError("account_id must be a uuid.UUID")
        cached = self._cache.get(account_id)
        if cached is not None:
            return cached
        # The 16 raw UUID bytes are part of every derived key: never change this encoding.
        info = _HKDF_INFO_PREFIX + account_id.bytes
        fernets = []
        for master in self._master_keys:
            derived = HKDF(algorithm=hashes.SHA256(), length=_FERNET_KEY_BYTES, salt=None, info=info).derive(
                master
            )
            fernets.append(Fernet(base64.urlsafe_b64encode(derived)))
        multi = MultiFernet(fernets)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[account_id] = multi
        return multi

    def encrypt(self, account_id: uuid.UUID, data: dict[str, Any]) -> bytes:
        """JSON-encode ``data`` and encrypt it under the first key for this account."""
        if not isinstance(data, dict):
            raise TypeError("credentials must be a dict")
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return self._fernet_for(account_id).encrypt(payload)

    def decrypt(self, account_id: uuid.UUID, token: bytes) -> dict[str, Any]:
        """Decrypt a ciphertext produced by :meth:`encrypt` for the same account."""
        try:
            payload = self._fernet_for(account_id).decrypt(token)
        except InvalidToken:
            raise CredentialDecryptError("stored credentials could not be decrypted for this account") from None
        try:
            data = json.loads(payload)
        except ValueError:
            raise CredentialDecryptError("decrypted credentials are not valid JSON") from None
        if not isinstance(data, dict):
            raise CredentialDecryptError("decrypted credentials are not a JSON object")
        return data

    def rotate(self, account_id: uuid.UUID, token: bytes) -> bytes:
        """Re-encrypt ``token`` under the current (first) key so old keys can be retired."""
        try:
            return self._fernet_for(account_id).rotate(token)
        except InvalidToken:
            raise CredentialDecryptError("stored credentials could not be decrypted for this account") from None
