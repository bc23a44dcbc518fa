"""Attempt history across a worker kill (a real `dramatiq workers.main` process, SIGKILLed) and injected
transient failures, read back through the API; the history is bounded per job."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import JobAttempt
from shared.jobs import state_machine
from shared.jobs.attempts import ATTEMPTS_KEPT
from tests.helpers import submit_job, sweep, wait_job, worker_process


def attempts(client, headers, job_id):
    r = client.get(f"/api/v1/jobs/{job_id}/attempts", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def test_injected_transient_failures_then_success(client, tenant, worker):
    job = submit_job(client, tenant, fail_attempts=2, retry_after_s=0.3, payload={"n": 1})
    assert wait_job(client, tenant.h(), job["id"])["status"] == "succeeded"
    items = attempts(client, tenant.h("l1"), job["id"])
    assert [(a["number"], a["outcome"]) for a in items] == [(1, "retrying"), (2, "retrying"), (3, "succeeded")]
    assert [a["error"]["code"] for a in items[:2]] == ["echo_transient_failure"] * 2
    assert items[0]["error"]["message"] == "transient failure requested for attempt 1"
    assert all(a["retry_after_s"] == 0.3 for a in items[:2]) and items[2]["retry_after_s"] is None
    assert all(a["external_errors"] == 0 and a["step"] is None for a in items)


def test_a_permanent_failure_is_one_failed_attempt(client, tenant, worker):
    job = submit_job(client, tenant, fail_permanently=True)
    assert wait_job(client, tenant.h(), job["id"])["status"] == "failed"
    (only,) = attempts(client, tenant.h(), job["id"])
    assert only["outcome"] == "failed" and only["error"]["code"] == "echo_failed" and only["next_attempt_at"] is None


@pytest.mark.slow
def test_a_worker_kill_is_an_attempt_ended_worker_lost(app, settings, settings_env, client, operator, engine):
    r = client.post("/api/v1/jobs", json={"kind": "system.echo", "delay_ms": 4000, "payload": {"k": 1}}, headers=operator)
    job_id = r.get_json()["job"]["id"]
    with worker_process(settings_env) as proc:
        wait_job(client, operator, job_id, until=("running",), timeout=30)
        during = client.get(f"/api/v1/ops/jobs/{job_id}", headers=operator).get_json()
        killed = during["job"]["worker"]  # host:pid of the dramatiq process running it
        assert during["attempts"] == [] and killed and ":" in killed
        assert during["timeline"][-1]["event"] == "attempt_started" and during["timeline"][-1]["running"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    assert sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s, redispatch_after_s=60).rescued == 1
    lost = client.get(f"/api/v1/jobs/{job_id}/attempts", headers=operator).get_json()["items"]
    assert [(a["number"], a["outcome"]) for a in lost] == [(1, "worker_lost")]
    assert lost[0]["error"]["code"] == "worker_lost" and lost[0]["worker"] == killed
    assert lost[0]["next_attempt_at"] is not None  # when the rescue made it due again
    with worker_process(settings_env):
        done = wait_job(client, operator, job_id, timeout=40)
    assert done["status"] == "succeeded"
    detail = client.get(f"/api/v1/ops/jobs/{job_id}", headers=operator).get_json()
    assert [(a["number"], a["outcome"]) for a in detail["attempts"]] == [(1, "worker_lost"), (2, "succeeded")]
    assert detail["attempts"][1]["worker"] not in (None, killed)
    assert detail["job"]["crashes"] == 1


def test_only_the_newest_attempts_are_kept(client, tenant, engine):
    """A job that keeps coming back (here driven through the state machine itself) keeps ATTEMPTS_KEPT rows."""
    job = submit_job(client, tenant)
    job_id = uuid.UUID(job["id"])
    from db.engine import tenant as tenant_scope

    scope = tenant_scope(tenant.account_id)
    for i in range(ATTEMPTS_KEPT + 5):
        token = uuid.uuid4()
        assert state_machine.claim(engine, scope, job_id, token) is not None
        with transaction(engine, scope) as db:
            assert state_machine.retry_later(db, job_id, token, {"code": "again", "message": f"try {i}"}, 0)
    with transaction(engine, SYSTEM) as db:
        numbers = db.execute(select(func.min(JobAttempt.number), func.max(JobAttempt.number), func.count())
                             .where(JobAttempt.job_id == job_id)).one()
    assert tuple(numbers) == (6, ATTEMPTS_KEPT + 5, ATTEMPTS_KEPT)


def test_a_fenced_out_worker_records_no_attempt(client, tenant, engine):
    job_id = uuid.UUID(submit_job(client, tenant)["id"])
    from db.engine import tenant as tenant_scope

    scope = tenant_scope(tenant.account_id)
    assert state_machine.claim(engine, scope, job_id, uuid.uuid4()) is not None
    with transaction(engine, scope) as db:  # a worker whose claim was taken over
        assert not state_machine.fail(db, job_id, uuid.uuid4(), {"code": "late", "message": "too late"})
    assert not state_machine.succeed_now(engine, scope, job_id, uuid.uuid4(), {})
    assert attempts(client, tenant.h(), str(job_id)) == []
