"""Who may cancel or retry which job, and how often (issue 13, item 2).

Writebacks: engineer and above. `batch.expand`: admin and above. `l1` users: only the L1 jobs they created.
Manual retries are bounded (3 per job, then 409 `retry_limit_reached`) and each one is recorded on the job.
A refused call changes nothing.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import Job
from shared.jobs import state_machine
from shared.jobs.state_machine import NewJob, insert_jobs
from tests.helpers import assert_problem

ROLES = ("l1", "engineer", "admin", "owner")
# kind → the roles that may cancel or retry it (an l1 user only when the job is theirs; see below)
ALLOWED = {
    "writeback.resolution_note": {"engineer", "admin", "owner"},
    "writeback.escalation_package": {"engineer", "admin", "owner"},
    "batch.expand": {"admin", "owner"},
    "preview.resolution_note": {"engineer", "admin", "owner"},
    "template.extract": {"engineer", "admin", "owner"},
    "system.echo": {"engineer", "admin", "owner"},
    "l1.next_node": {"engineer", "admin", "owner"},  # + the l1 user who created it
}


def make_job(engine: Any, tenant: Any, kind: str, *, failed: bool, created_by: uuid.UUID | None = None) -> str:
    """A job of `kind` in the tenant, left queued or moved running → failed by the state machine."""
    scope = tenant_scope(tenant.account_id)
    with transaction(engine, scope) as db:
        job, _ = insert_jobs(db, [NewJob(kind=kind, account_id=tenant.account_id, payload={"x": 1},
                                         created_by=created_by or tenant.user_ids["engineer"])])[0]
    if failed:
        token = uuid.uuid4()
        assert state_machine.claim(engine, scope, job.id, token) is not None
        with transaction(engine, scope) as db:
            assert state_machine.fail(db, job.id, token, {"code": "boom", "message": "failed for the test"})
    return str(job.id)


def status_of(engine: Any, job_id: str) -> str:
    with transaction(engine, SYSTEM) as db:
        job = db.get(Job, uuid.UUID(job_id))
        assert job is not None
        return job.status


@pytest.mark.parametrize("action", ["cancel", "retry"])
@pytest.mark.parametrize("kind", sorted(ALLOWED))
def test_roles_per_kind(client, engine, make_tenant, kind, action):
    tenant = make_tenant()
    for role in ROLES:
        job_id = make_job(engine, tenant, kind, failed=action == "retry")
        before = status_of(engine, job_id)
        r = client.post(f"/api/v1/jobs/{job_id}/{action}", headers=tenant.h(role))
        if role in ALLOWED[kind]:
            assert r.status_code in (200, 202), (role, r.get_json())
            assert status_of(engine, job_id) == ("cancelled" if action == "cancel" else "queued")
        else:
            assert_problem(r, 403, "forbidden")
            assert status_of(engine, job_id) == before  # nothing written


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_l1_users_act_only_on_their_own_l1_jobs(client, engine, make_tenant, action):
    tenant = make_tenant()
    failed = action == "retry"
    mine = make_job(engine, tenant, "l1.next_node", failed=failed, created_by=tenant.user_ids["l1"])
    theirs = make_job(engine, tenant, "l1.next_node", failed=failed, created_by=tenant.user_ids["engineer"])
    assert_problem(client.post(f"/api/v1/jobs/{theirs}/{action}", headers=tenant.h("l1")), 403, "forbidden")
    assert status_of(engine, theirs) == ("failed" if failed else "queued")
    assert client.post(f"/api/v1/jobs/{mine}/{action}", headers=tenant.h("l1")).status_code in (200, 202)


def test_operators_may_cancel_and_retry_any_kind(client, engine, make_tenant, operator):
    tenant = make_tenant()
    for kind in ALLOWED:
        queued = make_job(engine, tenant, kind, failed=False)
        assert client.post(f"/api/v1/ops/jobs/{queued}/cancel", headers=operator).status_code == 200
        failed = make_job(engine, tenant, kind, failed=True)
        assert client.post(f"/api/v1/ops/jobs/{failed}/retry", headers=operator).status_code == 202


def _fail_again(engine: Any, tenant: Any, job_id: str) -> None:
    """What a worker would do with the retried job: claim it and fail it once more."""
    scope, token = tenant_scope(tenant.account_id), uuid.uuid4()
    assert state_machine.claim(engine, scope, uuid.UUID(job_id), token) is not None
    with transaction(engine, scope) as db:
        assert state_machine.fail(db, uuid.UUID(job_id), token, {"code": "boom", "message": "again"})


def test_manual_retries_are_bounded_and_recorded(client, engine, make_tenant, operator):
    tenant = make_tenant()
    job_id = make_job(engine, tenant, "system.echo", failed=True)
    callers = [("api", tenant.h("admin")), ("ops", operator), ("api", tenant.h("engineer"))]
    for path, headers in callers:
        url = f"/api/v1/jobs/{job_id}/retry" if path == "api" else f"/api/v1/ops/jobs/{job_id}/retry"
        assert client.post(url, headers=headers).status_code == 202
        _fail_again(engine, tenant, job_id)
    for url, headers in ((f"/api/v1/jobs/{job_id}/retry", tenant.h("owner")),
                         (f"/api/v1/ops/jobs/{job_id}/retry", operator)):
        body = assert_problem(client.post(url, headers=headers), 409, "retry_limit_reached")
        assert "3" in body["detail"]
    assert status_of(engine, job_id) == "failed"
    bulk = client.post("/api/v1/ops/jobs/retry", json={"ids": [job_id]}, headers=operator).get_json()
    assert bulk["affected"] == 0 and bulk["skipped"] == [{"id": job_id, "code": "retry_limit_reached"}]
    with transaction(engine, SYSTEM) as db:
        job = db.get(Job, uuid.UUID(job_id))
        assert job is not None
        log = job.retries
    assert [r["via"] for r in log] == ["api", "ops", "api"]
    assert log[0]["by"] == str(tenant.user_ids["admin"]) and log[2]["by"] == str(tenant.user_ids["engineer"])
    assert log[1]["by"] not in (None, log[0]["by"], log[2]["by"])  # the operator's own user id
    assert all(r["at"] for r in log)
    listed = client.get(f"/api/v1/ops/jobs?account_id={tenant.account_id}", headers=operator).get_json()["items"]
    assert next(j for j in listed if j["id"] == job_id)["retries"] == log
