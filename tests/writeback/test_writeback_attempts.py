"""Attempt history of writebacks against the ConnectWise simulator (issue 18): what happened on every attempt.

Transient faults (5xx, 429 with Retry-After) leave one `retrying` attempt each with its error, the Retry-After
asked for and the failed external call; a silent status rejection fails, a manual retry adds attempts after it;
the engineer sees it all through GET /jobs/{id}/attempts, another tenant gets a 404, the operator gets it with
workers and the recovery points (the ConnectWise note id) through GET /ops/jobs/{id}.
"""
from __future__ import annotations

from datetime import datetime

from tests.helpers import assert_problem, wait_job
from tests.writeback.test_writeback_connectwise import TICKET, configure, post


def attempts(client, headers, job_id):
    r = client.get(f"/api/v1/jobs/{job_id}/attempts", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def ts(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_transient_failures_each_leave_an_attempt_with_its_error(client, tenant, other_tenant, linked, cw_sim,
                                                                  psa_worker, operator):
    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("POST", "notes", "status500", times=2)
    job_id = post(client, tenant, linked["session"])
    done = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 3

    items = attempts(client, tenant.h("engineer"), job_id)
    assert [a["number"] for a in items] == [1, 2, 3]
    assert [a["outcome"] for a in items] == ["retrying", "retrying", "succeeded"]
    for failed in items[:2]:
        assert failed["error"]["code"] == "psa_unavailable", failed
        assert failed["external_errors"] == 1  # the POST that answered 500
        assert failed["next_attempt_at"] is not None and failed["retry_after_s"] is None
        assert failed["step"] == "note_attempted"  # it had reached the note POST
    last = items[2]
    assert last["error"] is None and last["external_errors"] == 0 and last["step"] == "status_verified"
    for a in items:
        assert ts(a["started_at"]) <= ts(a["finished_at"]) and a["run_time_s"] >= 0 and a["queue_wait_s"] >= 0
        assert "worker" not in a  # the platform's hosts are not the tenant's business
    # each retry started after the previous attempt's due time
    assert ts(items[1]["started_at"]) >= ts(items[0]["next_attempt_at"])

    # Another tenant: the same answer as a job that does not exist.
    assert_problem(client.get(f"/api/v1/jobs/{job_id}/attempts", headers=other_tenant.h("engineer")), 404, "not_found")

    ops = client.get(f"/api/v1/ops/jobs/{job_id}", headers=operator).get_json()
    assert [a["outcome"] for a in ops["attempts"]] == ["retrying", "retrying", "succeeded"]
    assert all(a["worker"] and ":" in a["worker"] for a in ops["attempts"])
    points = {p["name"]: p for p in ops["job"]["steps"]}
    assert list(points) == ["note_attempted", "note_posted", "status_changed", "status_verified"]
    assert points["note_posted"]["data"]["external_id"] == str(cw_sim.notes(TICKET)[0]["id"])
    assert ops["links"]["session_page"] == f"/app/sessions/{linked['session']['id']}"
    assert ops["job"]["dedupe_key"] and ops["job"]["session_id"] == linked["session"]["id"]
    events = [e["event"] for e in ops["timeline"]]
    assert events[0] == "created" and events[-1] == "succeeded"
    assert events.count("attempt_started") == 3 and events.count("attempt_ended") == 3


def test_retry_after_is_recorded_with_the_attempt(client, tenant, linked, cw_sim, psa_worker):
    cw_sim.inject("POST", "notes", "status429", retry_after=2)
    job_id = post(client, tenant, linked["session"])
    assert wait_job(client, tenant.h("engineer"), job_id, timeout=30)["status"] == "succeeded"
    first, second = attempts(client, tenant.h("engineer"), job_id)
    assert first["outcome"] == "retrying" and first["error"]["code"] == "psa_rate_limited"
    assert first["retry_after_s"] == 2.0
    assert (ts(first["next_attempt_at"]) - ts(first["finished_at"])).total_seconds() >= 1.9  # honoured
    assert second["outcome"] == "succeeded" and second["queue_wait_s"] < 5


def test_a_manual_retry_continues_the_history(client, tenant, linked, cw_sim, psa_worker, operator):
    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("PATCH", "ticket", "patch_ignored", times=10)
    job_id = post(client, tenant, linked["session"])
    failed = wait_job(client, tenant.h("engineer"), job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "status_verification_failed"
    (only,) = attempts(client, tenant.h("engineer"), job_id)
    assert only["outcome"] == "failed" and only["error"]["code"] == "status_verification_failed"
    assert only["error"]["detail"]["observed"] == {"id": 1, "name": "New"}

    cw_sim.clear_faults()
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tenant.h("engineer")).status_code == 202
    done = wait_job(client, tenant.h("engineer"), job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1  # a fresh budget...
    items = attempts(client, tenant.h("engineer"), job_id)
    assert [(a["number"], a["outcome"]) for a in items] == [(1, "failed"), (2, "succeeded")]  # ...the same history
    assert ts(items[1]["started_at"]) > ts(items[0]["finished_at"])
    assert items[1]["queue_wait_s"] < 5  # waited from the retry, not from the first attempt's due time

    ops = client.get(f"/api/v1/ops/jobs/{job_id}", headers=operator).get_json()
    events = [e["event"] for e in ops["timeline"]]
    assert events.index("retried") == events.index("attempt_ended") + 1
    assert ops["job"]["retries"][0]["via"] == "api"
