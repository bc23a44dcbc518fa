"""Operator API: queue counts that match reality, job listing, retry/cancel single and bulk, dead letters, metrics."""
from __future__ import annotations

import json
import uuid

from prometheus_client.parser import text_string_to_metric_families

from shared.jobs.service import JobRef
from tests.helpers import submit_job, wait_job


def queue(body, name):
    return next(q for q in body["queues"] if q["name"] == name)


def test_ops_requires_operator(client, tenant, operator):
    assert client.get("/api/v1/ops/queues", headers=tenant.h("owner")).status_code == 403
    assert client.get("/api/v1/ops/queues").status_code == 401
    assert client.get("/api/v1/ops/queues", headers=operator).status_code == 200


def test_queue_counts_match_reality(app, client, tenant, operator, namespace):
    ready = [submit_job(client, tenant) for _ in range(3)]  # no worker: they stay ready
    st = app.extensions["flowpilot"]
    st.dispatcher.send([JobRef(uuid.uuid4(), tenant.account_id, "system.echo", "interactive", delay_ms=60_000)])
    # a dead letter, as Dramatiq leaves it: id in the XQ sorted set, message in its hash
    st.redis.zadd(f"{namespace}:batch.XQ", {"dead-1": 1_700_000_000_000})
    st.redis.hset(f"{namespace}:batch.XQ.msgs", "dead-1", json.dumps({"actor_name": "system.echo", "args": [ready[0]["id"], str(tenant.account_id)]}))
    body = client.get("/api/v1/ops/queues", headers=operator).get_json()
    q = queue(body, "interactive")
    assert q["ready"] == 3 and q["in_flight"] == 0 and q["delayed"] == 1 and q["oldest_ready_age_s"] is not None
    assert queue(body, "batch")["dead"] == 1
    assert body["jobs"]["by_status"] == {"queued": 3} and body["jobs"]["by_kind"]["system.echo"]["queued"] == 3
    assert body["jobs"]["oldest_active_age_s"] >= 0


def test_jobs_list_filters_across_tenants(client, tenant, other_tenant, operator, worker):
    a = submit_job(client, tenant, fail_permanently=True)
    b = submit_job(client, other_tenant)
    wait_job(client, tenant.h(), a["id"])
    wait_job(client, other_tenant.h(), b["id"])
    everything = client.get("/api/v1/ops/jobs", headers=operator).get_json()["items"]
    assert {j["id"] for j in everything} == {a["id"], b["id"]}
    failed = client.get("/api/v1/ops/jobs?status=failed", headers=operator).get_json()["items"]
    assert [j["id"] for j in failed] == [a["id"]] and failed[0]["error"]["code"] == "echo_failed"
    mine = client.get(f"/api/v1/ops/jobs?account_id={other_tenant.account_id}", headers=operator).get_json()["items"]
    assert [j["id"] for j in mine] == [b["id"]]
    page1 = client.get("/api/v1/ops/jobs?limit=1", headers=operator).get_json()
    page2 = client.get(f"/api/v1/ops/jobs?limit=1&cursor={page1['next_cursor']}", headers=operator).get_json()
    assert page1["items"][0]["id"] != page2["items"][0]["id"] and page2["next_cursor"] is None


def test_retry_and_cancel_single_and_bulk(client, tenant, operator, worker):
    failed = [submit_job(client, tenant, fail_permanently=True) for _ in range(3)]
    for j in failed:
        wait_job(client, tenant.h(), j["id"])
    r = client.post(f"/api/v1/ops/jobs/{failed[0]['id']}/retry", headers=operator)
    assert r.status_code == 202 and r.get_json()["job"]["status"] == "queued"
    wait_job(client, tenant.h(), failed[0]["id"])
    bulk = client.post("/api/v1/ops/jobs/retry", json={"status": "failed", "kind": "system.echo"}, headers=operator).get_json()
    assert bulk["affected"] == 3
    for j in failed:
        assert wait_job(client, tenant.h(), j["id"])["attempts"] == 1  # retried: a fresh budget, failed again
    assert client.post("/api/v1/ops/jobs/cancel", json={"status": "failed"}, headers=operator).status_code == 422


def test_bulk_cancel_queued(client, tenant, operator):
    jobs = [submit_job(client, tenant) for _ in range(4)]
    r = client.post("/api/v1/ops/jobs/cancel", json={"ids": [j["id"] for j in jobs[:3]]}, headers=operator).get_json()
    assert r["affected"] == 3
    statuses = [client.get(f"/api/v1/jobs/{j['id']}", headers=tenant.h()).get_json()["status"] for j in jobs]
    assert statuses == ["cancelled"] * 3 + ["queued"]
    one = client.post(f"/api/v1/ops/jobs/{jobs[3]['id']}/cancel", headers=operator)
    assert one.status_code == 200 and one.get_json()["job"]["status"] == "cancelled"


def test_dead_letters_list_requeue_purge(app, client, tenant, operator, namespace, worker):
    job = submit_job(client, tenant, fail_permanently=True)
    wait_job(client, tenant.h(), job["id"])
    st = app.extensions["flowpilot"]
    st.redis.zadd(f"{namespace}:interactive.XQ", {"m1": 1_700_000_000_000})
    st.redis.hset(f"{namespace}:interactive.XQ.msgs", "m1",
                  json.dumps({"actor_name": "system.echo", "args": [job["id"], str(tenant.account_id)]}))
    letters = client.get("/api/v1/ops/dead-letters", headers=operator).get_json()["items"]
    assert letters[0]["job_id"] == job["id"] and letters[0]["queue"] == "interactive"
    r = client.post("/api/v1/ops/dead-letters/requeue", headers=operator).get_json()
    assert r == {"requeued": 1, "removed": 1}
    assert client.get("/api/v1/ops/dead-letters", headers=operator).get_json()["items"] == []
    assert wait_job(client, tenant.h(), job["id"])["status"] == "failed"  # ran again through its job row
    st.redis.zadd(f"{namespace}:batch.XQ", {"m2": 1})
    assert client.post("/api/v1/ops/dead-letters/purge", json={}, headers=operator).get_json()["removed"] == 1


def test_metrics_parse_and_move_when_jobs_run(settings, tenant, worker, operator):
    from web import create_app

    uncached = create_app(settings.model_copy(update={"flowpilot_metrics_cache_s": 0.0}))
    try:
        _metrics_move(uncached.test_client(), tenant, operator)
    finally:
        uncached.extensions["flowpilot"].dispose()


def _metrics_move(client, tenant, operator):
    def families():
        text = client.get("/metrics", headers=operator).get_data(as_text=True)
        return {f.name: f for f in text_string_to_metric_families(text)}

    before = families()
    assert "flowpilot_jobs" in before and "flowpilot_queue_messages" in before
    job = submit_job(client, tenant)
    wait_job(client, tenant.h(), job["id"])
    after = families()
    finished = {tuple(s.labels.values()): s.value for s in after["flowpilot_jobs_finished"].samples if s.name.endswith("_total")}
    assert finished[("system.echo", "succeeded")] >= 1
    durations = [s for s in after["flowpilot_job_duration_seconds"].samples if s.name.endswith("_count")]
    assert durations and durations[0].value >= 1
    gauge = {tuple(s.labels.values()): s.value for s in after["flowpilot_jobs"].samples}
    assert gauge[("system.echo", "succeeded")] == 1
