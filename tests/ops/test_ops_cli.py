"""The ops and batch CLI mirrors: human tables by default, JSON for scripts."""
from __future__ import annotations

import json

from tests.helpers import insert_sessions, run_cli, wait_job


def test_ops_cli_queues_jobs_retry_cancel(app, client, tenant, worker):
    failed = client.post("/api/v1/jobs", json={"kind": "system.echo", "fail_permanently": True}, headers=tenant.h()).get_json()["job"]
    wait_job(client, tenant.h(), failed["id"])
    table = run_cli(app, "ops", "queues")
    assert "NAME" in table and "interactive" in table and "failed=1" in table
    data = json.loads(run_cli(app, "ops", "queues", "--json"))
    assert data["jobs"]["by_status"]["failed"] == 1
    listing = run_cli(app, "ops", "jobs", "--status", "failed")
    assert failed["id"] in listing and "echo_failed" in listing
    assert json.loads(run_cli(app, "ops", "retry", failed["id"], "--json"))["affected"] == 1
    wait_job(client, tenant.h(), failed["id"])
    assert json.loads(run_cli(app, "ops", "retry", "--status", "failed", "--kind", "system.echo", "--json"))["affected"] == 1
    assert json.loads(run_cli(app, "ops", "dead-letters", "--json")) == {"items": []}


def test_ops_cli_cancel(app, client, tenant):
    job = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h()).get_json()["job"]
    assert json.loads(run_cli(app, "ops", "cancel", job["id"], "--json"))["affected"] == 1
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=tenant.h()).get_json()["status"] == "cancelled"


def test_batch_cli_follows_to_the_end(app, tenant, engine, worker):
    insert_sessions(engine, tenant, 12, intake={})
    out = run_cli(app, "batch", "create", "--account-id", str(tenant.account_id), "--action", "regenerate_resolution_note", "--json")
    final = json.loads(out.strip().splitlines()[-1])
    assert final["status"] == "succeeded" and final["succeeded"] == 12 and final["total"] == 12
    detached = json.loads(run_cli(app, "batch", "create", "--account-id", str(tenant.account_id),
                              "--action", "regenerate_escalation_package", "--detach", "--json"))
    assert detached["status"] == "expanding"
