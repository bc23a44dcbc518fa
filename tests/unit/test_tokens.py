"""Unit tests for shared.security.tokens."""
from __future__ import annotations

import hashlib

import pytest

from shared.security.tokens import TOKEN_PREFIX, display_prefix, generate_token, hash_token, looks_like_token


def test_generate_token_has_prefix_and_is_unique() -> None:
    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert len(token) == len(TOKEN_PREFIX) + 43
        assert looks_like_token(token)


def test_hash_token_is_stable_hex_sha256() -> None:
    token = generate_token()
    digest = hash_token(token)
    assert digest == hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert hash_token(token + "x") != digest


def test_display_prefix_is_first_ten_chars() -> None:
    token = generate_token()
    assert display_prefix(token) == token[:10]
    assert display_prefix(token).startswith(TOKEN_PREFIX)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "fp_",
        "fp_short",
        "xx_" + "a" * 43,
        "FP_" + "a" * 43,
        "fp_" + "a" * 42 + "!",
        "fp_" + "a" * 42 + " ",
        "fp_" + "a" * 500,
        "Bearer fp_" + "a" * 43,
    ],
)
def test_looks_like_token_rejects_junk(value: str) -> None:
    assert not looks_like_token(value)


def test_looks_like_token_rejects_non_strings() -> None:
    assert not looks_like_token(None)  # type: ignore[arg-type]
    assert not looks_like_token(b"fp_" + b"a" * 43)  # type: ignore[arg-type]
