"""retry_failed_writebacks meets a session whose writeback another active job already does (issue 13, item 9):
the child is listed as skipped and the batch finishes; it is never left `expanding`."""
from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg2

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import Job
from shared.jobs import state_machine
from shared.jobs.state_machine import NewJob, insert_jobs
from tests.helpers import ADMIN_URL, insert_sessions, start_worker, wait_job


def writeback_job(engine: Any, tenant: Any, session_id: uuid.UUID, *, failed: bool) -> uuid.UUID:
    scope = tenant_scope(tenant.account_id)
    new = NewJob(kind="writeback.resolution_note", account_id=tenant.account_id, session_id=session_id,
                 dedupe_key=f"writeback:{session_id}", payload={"kind": "resolution_note", "markdown": "x"})
    with transaction(engine, scope) as db:
        job, _ = insert_jobs(db, [new])[0]
    if failed:
        token = uuid.uuid4()
        assert state_machine.claim(engine, scope, job.id, token) is not None
        with transaction(engine, scope) as db:
            assert state_machine.fail(db, job.id, token, {"code": "psa_unavailable", "message": "down"})
    return job.id


def run_batch(client: Any, tenant: Any, session_id: uuid.UUID) -> dict[str, Any]:
    r = client.post("/api/v1/batches", json={"action": "retry_failed_writebacks",
                                             "filter": {"session_ids": [str(session_id)]}}, headers=tenant.h())
    assert r.status_code == 202, r.get_json()
    body: dict[str, Any] = r.get_json()
    return body


def settled(client: Any, tenant: Any, batch_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/batches/{batch_id}", headers=tenant.h()).get_json()
        if body["status"] != "expanding":
            return body
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} still expanding after {timeout}s")


def test_child_superseded_by_an_active_job_is_listed_as_skipped(client, engine, tenant, settings):
    session_id = insert_sessions(engine, tenant, 1)[0]
    older = writeback_job(engine, tenant, session_id, failed=True)
    newer = writeback_job(engine, tenant, session_id, failed=True)
    assert client.post(f"/api/v1/jobs/{older}/retry", headers=tenant.h("engineer")).status_code == 202  # active now
    with start_worker(settings, pools={"batch": 1}):  # the interactive queue stays unserved: `older` stays queued
        created = run_batch(client, tenant, session_id)
        assert wait_job(client, tenant.h(), created["expand_job"]["id"])["status"] == "succeeded"
    batch = settled(client, tenant, created["batch"]["id"])
    assert batch["status"] in ("running", "succeeded") and batch["total"] == 0
    assert batch["skipped_total"] == 1
    assert batch["skipped"] == [{"session_id": str(session_id), "job_id": str(newer), "code": "job_superseded"}]


def _lock_waiters(dbname: str) -> int:
    conn = psycopg2.connect(ADMIN_URL)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                        (dbname,))
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def test_child_whose_session_gets_an_active_job_mid_retry_is_skipped_not_fatal(client, engine, tenant, settings,
                                                                             database):
    """The race: an active job for the session commits while the expander is retrying the failed one."""
    session_id = insert_sessions(engine, tenant, 1)[0]
    failed = writeback_job(engine, tenant, session_id, failed=True)
    scope = tenant_scope(tenant.account_id)
    with start_worker(settings, pools={"batch": 1}):
        with transaction(engine, scope) as db:  # a new post for the session, not committed yet
            insert_jobs(db, [NewJob(kind="writeback.resolution_note", account_id=tenant.account_id,
                                    session_id=session_id, dedupe_key=f"writeback:{session_id}")])
            created = run_batch(client, tenant, session_id)
            deadline = time.monotonic() + 20
            while _lock_waiters(database["name"]) == 0:  # the expander's update waits on our uncommitted key
                assert time.monotonic() < deadline, "the expander never reached the conflicting update"
                time.sleep(0.05)
        expander = wait_job(client, tenant.h(), created["expand_job"]["id"])
    assert expander["status"] == "succeeded" and expander["attempts"] == 1  # no failed attempt on the way
    batch = settled(client, tenant, created["batch"]["id"])
    assert batch["skipped"] == [{"session_id": str(session_id), "job_id": str(failed), "code": "job_superseded"}]
    with transaction(engine, SYSTEM) as db:
        assert db.get(Job, failed).status == "failed"  # left as it was
