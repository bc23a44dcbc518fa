"""The job spine end to end: HTTP → Postgres → Redis → worker → Postgres → poller."""
from __future__ import annotations

from tests.helpers import wait_job


def test_echo_job_runs_through_worker(client, tenant, worker):
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"hello": "world"}}, headers=tenant.h())
    assert resp.status_code == 202, resp.get_json()
    job = resp.get_json()["job"]
    assert job["status"] == "queued" and job["kind"] == "system.echo"
    done = wait_job(client, tenant.h(), job["id"])
    assert done["status"] == "succeeded"
    assert done["result"] == {"echo": {"hello": "world"}, "attempt": 1}
    assert done["attempts"] == 1 and done["finished_at"] and done["started_at"]
