"""Retry policy as small pure functions, shared by jobs and integrations."""
from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# However long a server asks us to wait, we come back within the hour: a hostile or broken server must not
# park a job for days (or overflow a timestamp with "inf").
MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), within [0, MAX_RETRY_AFTER_S].

    None when absent or junk (`nan`, unparseable dates). Negative or past → 0; `inf`, huge or far-future → the cap.
    """
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
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return clamp_wait(seconds)


def clamp_wait(seconds: float | None) -> float | None:
    """A wait we are willing to honour: NaN → None, otherwise within [0, MAX_RETRY_AFTER_S]."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(base, min(cap, base * 2**(attempt-1)))."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(min(base, ceiling), ceiling)


def next_delay(
    attempt: int, *, retry_after: float | None, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """The wait before the next attempt: never sooner than the server asked (Retry-After), never beyond the hour."""
    delay = backoff(attempt, base=base, cap=min(cap, MAX_RETRY_AFTER_S), rng=rng)
    asked = clamp_wait(retry_after)
    if asked is not None:
        delay = max(delay, asked)
    return delay


def should_retry(*, transient: bool, attempts: int, max_attempts: int) -> bool:
    return transient and attempts < max_attempts
