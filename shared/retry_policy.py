"""Retry policy as small pure functions, shared by jobs and integrations."""
from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or junk."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(base, min(cap, base * 2**(attempt-1)))."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(min(base, ceiling), ceiling)


def next_delay(
    attempt: int, *, retry_after: float | None, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """The wait before the next attempt: never sooner than the server asked (Retry-After)."""
    delay = backoff(attempt, base=base, cap=cap, rng=rng)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def should_retry(*, transient: bool, attempts: int, max_attempts: int) -> bool:
    return transient and attempts < max_attempts
