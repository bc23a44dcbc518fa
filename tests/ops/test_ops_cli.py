"""The ops and batch CLI mirrors: human tables by default, JSON for scripts."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import insert

from db.engine import tenant as tenant_scope
from db.engine import transaction
from db.models import AiSession
from tests.helpers import wait_job


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_ops_cli_queues_jobs_retry_cancel(app, client, tenant, worker):
    failed = client.post("/api/v1/jobs", json={"kind": "system.echo", "fail_permanently": True}, headers=tenant.h()).get_json()["job"]
    wait_job(client, tenant.h(), failed["id"])
    table = run(app, "ops", "queues")
    assert "NAME" in table and "interactive" in table and "failed=1" in table
    data = json.loads(run(app, "ops", "queues", "--json"))
    assert data["jobs"]["by_status"]["failed"] == 1
    listing = run(app, "ops", "jobs", "--status", "failed")
    assert failed["id"] in listing and "echo_failed" in listing
    assert json.loads(run(app, "ops", "retry", failed["id"], "--json"))["affected"] == 1
    wait_job(client, tenant.h(), failed["id"])
    assert json.loads(run(app, "ops", "retry", "--status", "failed", "--kind", "system.echo", "--json"))["affected"] == 1
    assert json.loads(run(app, "ops", "dead-letters", "--json")) == {"items": []}


def test_ops_cli_cancel(app, client, tenant):
    job = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h()).get_json()["job"]
    assert json.loads(run(app, "ops", "cancel", job["id"], "--json"))["affected"] == 1
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=tenant.h()).get_json()["status"] == "cancelled"


def test_batch_cli_follows_to_the_end(app, tenant, engine, worker):
    rows = [{"id": uuid.uuid4(), "account_id": tenant.account_id, "status": "active", "state_version": 1,
             "intake_type": "free_text", "intake": {}} for _ in range(12)]
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        db.execute(insert(AiSession), rows)
    out = run(app, "batch", "create", "--account-id", str(tenant.account_id), "--action", "regenerate_resolution_note", "--json")
    final = json.loads(out.strip().splitlines()[-1])
    assert final["status"] == "succeeded" and final["succeeded"] == 12 and final["total"] == 12
    detached = json.loads(run(app, "batch", "create", "--account-id", str(tenant.account_id),
                              "--action", "regenerate_escalation_package", "--detach", "--json"))
    assert detached["status"] == "expanding"
