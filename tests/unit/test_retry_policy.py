"""The retry policy's pure functions: Retry-After parsing, exponential backoff with full jitter, the budget."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.retry_policy import backoff, next_delay, parse_retry_after, should_retry

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5)])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=90), usegmt=True), now=NOW) == 90.0
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=90), usegmt=True), now=NOW) == 0.0  # past


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "Wed, 99 Foo 2026"])
def test_missing_or_junk_retry_after_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_backoff_grows_exponentially_within_its_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(30.0, 2.0 * 2 ** (attempt - 1))
        for _ in range(50):
            delay = backoff(attempt, base=2.0, cap=30.0, rng=rng)
            assert 2.0 <= delay <= ceiling


def test_backoff_jitters_across_the_whole_range() -> None:
    rng = random.Random(11)
    delays = [backoff(5, base=1.0, cap=100.0, rng=rng) for _ in range(500)]
    assert min(delays) < 4.0 and max(delays) > 12.0  # spread over [1, 16], not bunched at one value


def test_next_delay_is_never_sooner_than_the_server_asked() -> None:
    rng = random.Random(3)
    assert next_delay(1, retry_after=45.0, base=2.0, cap=300.0, rng=rng) == 45.0
    assert next_delay(1, retry_after=None, base=2.0, cap=300.0, rng=rng) == 2.0  # attempt 1: base


@pytest.mark.parametrize(("transient", "attempts", "budget", "expected"), [
    (True, 1, 5, True), (True, 4, 5, True), (True, 5, 5, False), (False, 1, 5, False),
])
def test_should_retry_needs_a_transient_error_and_attempts_left(transient: bool, attempts: int, budget: int,
                                                               expected: bool) -> None:
    assert should_retry(transient=transient, attempts=attempts, max_attempts=budget) is expected
