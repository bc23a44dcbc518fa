"""Unit tests for shared.security.crypto."""
from __future__ import annotations

import base64
import uuid

import pytest

from shared.security.crypto import CredentialCipher, CredentialDecryptError, generate_key

CREDS = {"company_id": "acme", "public_key": "pub", "private_key": "s3cr3t-private"}


def test_round_trip() -> None:
    cipher = CredentialCipher([generate_key()])
    account = uuid.uuid4()
    token = cipher.encrypt(account, CREDS)
    assert isinstance(token, bytes)
    assert b"s3cr3t-private" not in token
    assert cipher.decrypt(account, token) == CREDS


def test_same_keys_in_new_instance_decrypt() -> None:
    key = generate_key()
    account = uuid.uuid4()
    token = CredentialCipher([key]).encrypt(account, CREDS)
    assert CredentialCipher([key]).decrypt(account, token) == CREDS


def test_cross_tenant_ciphertext_fails() -> None:
    cipher = CredentialCipher([generate_key()])
    token = cipher.encrypt(uuid.uuid4(), CREDS)
    with pytest.raises(CredentialDecryptError) as exc:
        cipher.decrypt(uuid.uuid4(), token)
    assert "s3cr3t" not in str(exc.value)
    with pytest.raises(CredentialDecryptError):
        cipher.rotate(uuid.uuid4(), token)


def test_wrong_key_and_tampering_fail() -> None:
    account = uuid.uuid4()
    token = CredentialCipher([generate_key()]).encrypt(account, CREDS)
    with pytest.raises(CredentialDecryptError):
        CredentialCipher([generate_key()]).decrypt(account, token)
    cipher = CredentialCipher([generate_key()])
    token = bytearray(cipher.encrypt(account, CREDS))
    token[-5] ^= 1
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(account, bytes(token))
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(account, b"not a token")


def test_rotation() -> None:
    k1, k2 = generate_key(), generate_key()
    account = uuid.uuid4()
    old = CredentialCipher([k1]).encrypt(account, CREDS)

    rotating = CredentialCipher([k2, k1])
    assert rotating.decrypt(account, old) == CREDS
    rotated = rotating.rotate(account, old)

    new_only = CredentialCipher([k2])
    assert new_only.decrypt(account, rotated) == CREDS
    with pytest.raises(CredentialDecryptError):
        new_only.decrypt(account, old)
    with pytest.raises(CredentialDecryptError):
        CredentialCipher([k1]).decrypt(account, rotated)


def test_new_encryptions_use_first_key() -> None:
    k1, k2 = generate_key(), generate_key()
    account = uuid.uuid4()
    token = CredentialCipher([k2, k1]).encrypt(account, CREDS)
    assert CredentialCipher([k2]).decrypt(account, token) == CREDS


def test_empty_key_list_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CredentialCipher([])


@pytest.mark.parametrize(
    "bad_key",
    [
        "not-a-valid-key-SECRETMATERIAL",
        base64.urlsafe_b64encode(b"SECRETMATERIAL" * 2).decode(),  # 28 bytes
        base64.urlsafe_b64encode(b"S" * 33).decode(),
        "",
        "SECRETMATERIAL\u00e9",
    ],
)
def test_malformed_key_rejected_without_leaking(bad_key: str) -> None:
    with pytest.raises(ValueError) as exc:
        CredentialCipher([generate_key(), bad_key])
    message = str(exc.value)
    assert "#1" in message
    if bad_key:
        assert bad_key not in message
    assert "SECRET" not in message
    assert exc.value.__cause__ is None and exc.value.__context__ is None


def test_repr_hides_keys() -> None:
    key = generate_key()
    cipher = CredentialCipher([key, generate_key()])
    text = repr(cipher) + str(cipher)
    assert key not in text
    assert key[:8] not in text
    assert "2" in text


def test_account_id_must_be_uuid() -> None:
    cipher = CredentialCipher([generate_key()])
    with pytest.raises(TypeError):
        cipher.encrypt(str(uuid.uuid4()), CREDS)  # type: ignore[arg-type]


def test_non_object_payload_rejected() -> None:
    cipher = CredentialCipher([generate_key()])
    with pytest.raises(TypeError):
        cipher.encrypt(uuid.uuid4(), ["not", "a", "dict"])  # type: ignore[arg-type]
