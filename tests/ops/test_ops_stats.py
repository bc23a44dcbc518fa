"""GET /ops/stats against a seeded history with known answers, and its validation (problem+json)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from db.engine import SYSTEM, transaction
from db.models import Job, JobAttempt
from tests.helpers import assert_problem

# A minute boundary in the past: the series are asked to end there (?until=), so the answers do not move.
T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ECHO, WB = "system.echo", "writeback.resolution_note"


def _job(db, account_id, kind, status, finished_at, attempts):
    """A finished job and its attempts: (wait_s, run_s, outcome, external_errors), the last ending at finished_at."""
    job = Job(id=uuid.uuid4(), account_id=account_id, kind=kind, status=status, attempts=len(attempts),
              created_at=finished_at - timedelta(minutes=5), finished_at=finished_at)
    db.add(job)
    db.flush()
    for n, (wait, run, outcome, ext) in enumerate(attempts, 1):
        end = finished_at - timedelta(seconds=len(attempts) - n)
        start = end - timedelta(seconds=run)
        db.add(JobAttempt(job_id=job.id, account_id=account_id, kind=kind, number=n, due_at=start - timedelta(seconds=wait),
                          started_at=start, finished_at=end, outcome=outcome, external_errors=ext))


@pytest.fixture
def seeded(engine, tenant, other_tenant):
    at = T - timedelta(minutes=10) + timedelta(seconds=30)  # inside the bucket starting at T-10m
    with transaction(engine, SYSTEM) as db:
        _job(db, tenant.account_id, ECHO, "succeeded", at, [(1, 10, "succeeded", 0)])
        _job(db, tenant.account_id, ECHO, "succeeded", at, [(2, 20, "succeeded", 2)])
        _job(db, other_tenant.account_id, ECHO, "succeeded", at, [(3, 30, "succeeded", 0)])
        _job(db, tenant.account_id, ECHO, "failed", at, [(4, 40, "failed", 0)])
        _job(db, other_tenant.account_id, WB, "succeeded", at + timedelta(seconds=5), [(5, 50, "succeeded", 3)])
        _job(db, tenant.account_id, WB, "cancelled", T - timedelta(minutes=3), [])
        _job(db, None, ECHO, "succeeded", T + timedelta(seconds=10), [(1, 1, "succeeded", 0)])  # the last bucket
        _job(db, tenant.account_id, ECHO, "succeeded", T - timedelta(hours=2), [(9, 9, "succeeded", 9)])  # too old
        _job(db, tenant.account_id, ECHO, "succeeded", T + timedelta(minutes=2), [(9, 9, "succeeded", 9)])  # later
        running = Job(id=uuid.uuid4(), account_id=tenant.account_id, kind=ECHO, status="running")  # not finished
        db.add(running)


def test_stats_of_a_seeded_hour(client, operator, seeded):
    r = client.get(f"/api/v1/ops/stats?window=60m&step=1m&until={T.isoformat().replace('+00:00', 'Z')}", headers=operator)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["window_s"] == 3600 and body["step_s"] == 60
    assert body["until"] == "2026-11-30T12:01:00Z" and body["from"] == "2026-11-30T11:01:00Z"
    assert len(body["buckets"]) == 60 and body["buckets"][-1] == "2026-11-30T12:00:00Z"
    i = body["buckets"].index("2026-11-30T11:50:00Z")
    echo, wb, every = body["kinds"][ECHO], body["kinds"][WB], body["all"]
    assert set(body["kinds"]) == {ECHO, WB}

    assert echo["finished"]["succeeded"][i] == 3 and echo["finished"]["failed"][i] == 1
    assert sum(echo["finished"]["succeeded"]) == 4  # + the platform job in the last bucket; not the old/late ones
    assert echo["finished"]["succeeded"][-1] == 1
    assert echo["attempts"][i] == 4 and echo["external_errors"][i] == 2
    assert echo["queue_wait_p50_s"][i] == 2.5 and echo["queue_wait_p95_s"][i] == 3.85
    assert echo["run_time_p50_s"][i] == 25.0 and echo["run_time_p95_s"][i] == 38.5

    assert wb["finished"]["succeeded"][i] == 1 and wb["external_errors"][i] == 3 and wb["run_time_p50_s"][i] == 50.0
    j = body["buckets"].index("2026-11-30T11:57:00Z")
    assert wb["finished"]["cancelled"][j] == 1 and wb["attempts"][j] == 0 and wb["queue_wait_p50_s"][j] is None

    # All kinds together: counts add up, percentiles are computed again over the five attempts.
    assert every["finished"]["succeeded"][i] == 4 and every["attempts"][i] == 5 and every["external_errors"][i] == 5
    assert every["queue_wait_p50_s"][i] == 3.0 and every["queue_wait_p95_s"][i] == 4.8
    assert every["run_time_p50_s"][i] == 30.0 and every["run_time_p95_s"][i] == 48.0
    assert sum(every["attempts"]) == 6 and sum(every["external_errors"]) == 5
    assert every["queue_wait_p50_s"][i - 1] is None and every["finished"]["failed"][i - 1] == 0


def test_coarser_steps_and_the_default_window(client, operator, seeded):
    until = T.isoformat().replace("+00:00", "Z")
    body = client.get(f"/api/v1/ops/stats?window=2h&step=30m&until={until}", headers=operator).get_json()
    assert body["buckets"] == ["2026-11-30T10:30:00Z", "2026-11-30T11:00:00Z", "2026-11-30T11:30:00Z",
                               "2026-11-30T12:00:00Z"]
    # The last bucket is the step `until` falls in (12:00-12:30, so the job 2 minutes later too); 10:00 is outside.
    assert body["all"]["finished"]["succeeded"] == [0, 0, 4, 2]
    now = client.get("/api/v1/ops/stats", headers=operator).get_json()  # the last 60 minutes by default
    assert now["window_s"] == 3600 and len(now["buckets"]) == 60 and now["kinds"] == {}


@pytest.mark.parametrize("query, field", [
    ("window=abc", "window"),
    ("window=60", "window"),
    ("step=0m", "step"),
    ("step=5s", "step"),
    ("window=60m&step=7m", "step"),
    ("window=60m&step=2h", "step"),
    ("window=48h", "window"),
    ("window=24h&step=10s", "step"),
    ("until=yesterday", "until"),
    ("bucket=1m", "bucket"),
])
def test_a_window_or_step_that_cannot_be_served_is_a_422(client, operator, query, field):
    body = assert_problem(client.get(f"/api/v1/ops/stats?{query}", headers=operator), 422, "validation_failed")
    assert field in {e["field"] for e in body["errors"]}, body


def test_stats_are_for_operators(client, tenant):
    assert_problem(client.get("/api/v1/ops/stats", headers=tenant.h("owner")), 403)
    assert_problem(client.get("/api/v1/ops/stats"), 401)
