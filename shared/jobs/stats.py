"""The recent past, per time step and per kind (GET /ops/stats): jobs finished by status, and of the attempts
that ended, their queue wait and run time percentiles and their failed external calls.

Computed in Postgres from the records themselves, so every process's work counts and nothing is kept twice:
`jobs` through ix_jobs_finished_stats and `job_attempts` through ix_job_attempts_finished_stats, both ordered
by finished_at and carrying every column read (an index-only range scan of the window, whatever the size of
the tables: tests/bench/bench_stats.py measures it on ten million jobs). Buckets are aligned on the step
(date_bin from the epoch), the last one is the step in progress.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.isotime import iso

SPAN = re.compile(r"^([1-9][0-9]{0,5})(s|m|h)$")
UNIT_S = {"s": 1, "m": 60, "h": 3600}
MAX_WINDOW_S = 24 * 3600
MIN_STEP_S = 10
MAX_POINTS = 1440
FINISHED = ("succeeded", "failed", "cancelled")


def parse_span(value: str) -> int:
    """'60m' → 3600. Raises ValueError with a sentence an operator can act on."""
    m = SPAN.match(value.strip())
    if not m:
        raise ValueError("a whole number followed by s, m or h (e.g. 60m, 1m, 30s)")
    return int(m.group(1)) * UNIT_S[m.group(2)]


def check_window(window_s: int, step_s: int) -> list[dict[str, str]]:
    """What is wrong with a window and step (field, message), empty when they can be served."""
    errors = []
    if window_s > MAX_WINDOW_S:
        errors.append({"field": "window", "message": f"at most {MAX_WINDOW_S // 3600}h"})
    if step_s < MIN_STEP_S:
        errors.append({"field": "step", "message": f"at least {MIN_STEP_S}s"})
    if step_s > window_s:
        errors.append({"field": "step", "message": "no longer than the window"})
    elif window_s % step_s:
        errors.append({"field": "step", "message": "must divide the window exactly"})
    elif window_s // step_s > MAX_POINTS:
        errors.append({"field": "step", "message": f"at most {MAX_POINTS} points per series (window / step)"})
    return errors


_BOUNDS = text(
    "SELECT date_bin(:step * interval '1 second', coalesce(:until, now()), TIMESTAMPTZ 'epoch') "
    "+ :step * interval '1 second' AS hi"
)

_FINISHED = text(
    "SELECT date_bin(:step * interval '1 second', finished_at, TIMESTAMPTZ 'epoch') AS b, kind, status, "
    "count(*) AS n FROM jobs WHERE finished_at >= :lo AND finished_at < :hi GROUP BY 1, 2, 3"
)

# GROUPING SETS: per kind, and for all kinds together (percentiles do not add up, so they are computed again).
_ATTEMPTS = text(
    "SELECT date_bin(:step * interval '1 second', finished_at, TIMESTAMPTZ 'epoch') AS b, kind, "
    "GROUPING(kind) AS all_kinds, count(*) AS n, sum(external_errors) AS external_errors, "
    "percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - due_at)) AS wait, "
    "percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) AS run "
    "FROM job_attempts WHERE finished_at >= :lo AND finished_at < :hi "
    "GROUP BY GROUPING SETS ((1, kind), (1))"
)


@dataclass(frozen=True)
class Window:
    window_s: int
    step_s: int
    until: datetime | None = None  # None: now (the last bucket is the step in progress)


def _series(points: int) -> dict[str, Any]:
    return {
        "finished": {s: [0] * points for s in FINISHED},
        "attempts": [0] * points,
        "queue_wait_p50_s": [None] * points,
        "queue_wait_p95_s": [None] * points,
        "run_time_p50_s": [None] * points,
        "run_time_p95_s": [None] * points,
        "external_errors": [0] * points,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def stats(db: Session, w: Window) -> dict[str, Any]:
    points = w.window_s // w.step_s
    hi: datetime = db.execute(_BOUNDS, {"step": w.step_s, "until": w.until}).scalar_one()
    lo = hi - timedelta(seconds=w.window_s)
    params = {"step": w.step_s, "lo": lo, "hi": hi}
    kinds: dict[str, dict[str, Any]] = {}
    total = _series(points)

    def at(b: datetime) -> int:
        return int((b - lo).total_seconds()) // w.step_s

    for b, kind, status, n in db.execute(_FINISHED, params).all():
        if status not in FINISHED:
            continue
        i = at(b)
        kinds.setdefault(kind, _series(points))["finished"][status][i] += n
        total["finished"][status][i] += n
    for row in db.execute(_ATTEMPTS, params).all():
        series = total if row.all_kinds else kinds.setdefault(row.kind, _series(points))
        i = at(row.b)
        wait, run = row.wait or [None, None], row.run or [None, None]
        series["attempts"][i] = row.n
        series["external_errors"][i] = int(row.external_errors or 0)
        series["queue_wait_p50_s"][i], series["queue_wait_p95_s"][i] = _r(wait[0]), _r(wait[1])
        series["run_time_p50_s"][i], series["run_time_p95_s"][i] = _r(run[0]), _r(run[1])
    return {
        "window_s": w.window_s,
        "step_s": w.step_s,
        "from": iso(lo),
        "until": iso(hi),
        "buckets": [iso(lo + timedelta(seconds=i * w.step_s)) for i in range(points)],
        "all": total,
        "kinds": dict(sorted(kinds.items())),
    }
