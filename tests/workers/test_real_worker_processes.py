"""Real `dramatiq workers.main` processes: a SIGKILLed worker loses nothing."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from db.engine import SYSTEM, transaction
from db.models import Job
from tests.helpers import sweep, wait_job, worker_process

pytestmark = pytest.mark.slow


def test_sigkilled_worker_mid_job_is_recovered_by_sweeper(app, settings, settings_env, client, operator, engine):
    # Operators may ask for long sleeps (tenant users: shared/limits.MAX_TENANT_ECHO_DELAY_MS).
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo", "delay_ms": 4000, "payload": {"k": 1}}, headers=operator)
    job_id = resp.get_json()["job"]["id"]
    with worker_process(settings_env) as proc:
        wait_job(client, operator, job_id, until=("running",), timeout=30)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole worker (parent and forked child), no goodbye
        proc.wait()
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    report = sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s,
                   redispatch_after_s=settings.flowpilot_redispatch_after_s)
    assert report.rescued == 1
    rescued = client.get(f"/api/v1/jobs/{job_id}", headers=operator).get_json()
    assert rescued["status"] == "retrying" and rescued["error"]["code"] == "worker_lost"
    with worker_process(settings_env):
        done = wait_job(client, operator, job_id, timeout=30)
    # The dead process cost it no attempt; its next one ran alone (workers/sandbox.py).
    assert done["status"] == "succeeded" and done["attempts"] == 1 and done["result"]["echo"] == {"k": 1}
    with transaction(engine, SYSTEM) as db:
        assert db.get(Job, uuid.UUID(job_id)).claim_token is None


def test_real_worker_heartbeats_long_jobs(settings, settings_env, client, operator, engine):
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo", "delay_ms": 2500}, headers=operator)
    job_id = uuid.UUID(resp.get_json()["job"]["id"])
    with worker_process(settings_env):
        wait_job(client, operator, str(job_id), until=("running",), timeout=30)
        with transaction(engine, SYSTEM) as db:
            first = db.get(Job, job_id).heartbeat_at
        time.sleep(1.5)
        with transaction(engine, SYSTEM) as db:
            later = db.get(Job, job_id).heartbeat_at
        assert later > first
        assert wait_job(client, operator, str(job_id), timeout=30)["status"] == "succeeded"
