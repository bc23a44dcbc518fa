"""Poison jobs (issue 13, item 4), with real `dramatiq workers.main` processes.

A job that kills its worker process is found out without blaming the jobs that shared the process: every job
of a dead process goes back with its attempt given back and a backoff, and runs its next attempt alone in a
child process. A job that kills that child too (its second kill) is failed `worker_crashed`; the others just
finish, charged nothing.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime

import pytest

from db.engine import SYSTEM, transaction
from db.models import Job
from tests.helpers import assert_problem, sweep, wait_job, worker_process

pytestmark = pytest.mark.slow


def _row(engine, job_id: str) -> Job:
    with transaction(engine, SYSTEM) as db:
        job = db.get(Job, uuid.UUID(job_id))
        assert job is not None
        return job


def _submit(client, headers, **body) -> str:
    r = client.post("/api/v1/jobs", json={"kind": "system.echo", **body}, headers=headers)
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["job"]["id"])


def test_a_process_killed_under_a_job_costs_it_no_attempt_and_the_rescue_backs_off(app, settings, settings_env,
                                                                                   client, operator, engine):
    job_id = _submit(client, operator, delay_ms=4000, payload={"k": 1})
    with worker_process(settings_env) as proc:
        wait_job(client, operator, job_id, until=("running",), timeout=30)
        os.killpg(proc.pid, signal.SIGKILL)  # the host went away: nothing to do with this job
        proc.wait()
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    assert sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s, redispatch_after_s=60).rescued == 1
    rescued = client.get(f"/api/v1/jobs/{job_id}", headers=operator).get_json()
    assert rescued["status"] == "retrying" and rescued["error"]["code"] == "worker_lost"
    assert rescued["attempts"] == 0  # not charged for the dead process
    due = datetime.fromisoformat(rescued["next_attempt_at"].replace("Z", "+00:00"))
    assert due > datetime.now(UTC)  # backs off instead of rushing back into whatever killed it
    assert _row(engine, job_id).crashes == 1
    with worker_process(settings_env):
        done = wait_job(client, operator, job_id, timeout=40)
    assert done["status"] == "succeeded" and done["attempts"] == 1 and done["result"]["echo"] == {"k": 1}


def test_only_operators_may_submit_a_job_that_kills_its_worker(client, tenant):
    body = {"kind": "system.echo", "crash_worker": "sigkill"}
    assert_problem(client.post("/api/v1/jobs", json=body, headers=tenant.h("owner")), 403, "forbidden")


@pytest.mark.parametrize("how", ["sigkill", "segfault"])
def test_a_job_that_kills_its_worker_twice_fails_worker_crashed_and_bystanders_pay_nothing(
        app, settings, settings_env, client, engine, operator, how):
    bystander = _submit(client, operator, delay_ms=2500, payload={"innocent": True})
    with worker_process(settings_env) as proc:  # 2 threads: the bystander and the poison share the process
        wait_job(client, operator, bystander, until=("running",), timeout=30)
        poison = _submit(client, operator, crash_worker=how)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is not None, "the poison job did not take its worker down"
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    report = sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s, redispatch_after_s=60)
    assert report.rescued == 2
    for job_id in (bystander, poison):
        row = _row(engine, job_id)
        assert (row.status, row.attempts, row.crashes) == ("retrying", 0, 1)
    with worker_process(settings_env) as proc:
        failed = wait_job(client, operator, poison, timeout=60)
        done = wait_job(client, operator, bystander, timeout=60)
        assert proc.poll() is None  # its second kill hit only the child it ran in
    assert failed["status"] == "failed" and failed["error"]["code"] == "worker_crashed", failed
    assert failed["attempts"] == 1
    assert done["status"] == "succeeded" and done["attempts"] == 1  # the bystander was charged nothing
    listed = client.get("/api/v1/ops/jobs?status=failed&kind=system.echo", headers=operator).get_json()["items"]
    shown = next(j for j in listed if j["id"] == poison)
    assert shown["error"]["code"] == "worker_crashed" and shown["crashes"] == 2
    counts = client.get("/api/v1/ops/queues", headers=operator).get_json()["jobs"]
    assert counts["worker_crashed"] >= 1
