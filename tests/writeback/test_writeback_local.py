"""Writeback without a PSA ticket (local path) and the request-time rules: state 409s, one in flight."""
from __future__ import annotations

import pytest

from tests.helpers import concurrently, wait_job


@pytest.fixture
def session(client, tenant):
    return client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Disk full"}}, headers=tenant.h("engineer")).get_json()


def post(client, tenant, session, kind="resolution-note", **body):
    body = {"markdown": "## Summary\n\nCleared temp files."} | body
    return client.post(f"/api/v1/ai-sessions/{session['id']}/{kind}/post", json=body, headers=tenant.h("engineer"))


def test_resolve_locally_without_ticket(client, tenant, session, worker):
    r = post(client, tenant, session, resolution_summary="Freed 20 GB")
    assert r.status_code == 202 and r.get_json()["job"]["kind"] == "writeback.resolution_note"
    done = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])
    assert done["status"] == "succeeded"
    assert done["result"]["outcome"] == "resolved_local" and done["result"]["session_status"] == "resolved"
    s = client.get(f"/api/v1/ai-sessions/{session['id']}", headers=tenant.h("engineer")).get_json()
    assert s["status"] == "resolved" and s["resolved_at"] and s["resolution_summary"] == "Freed 20 GB"
    assert s["resolution_note_markdown"] == "## Summary\n\nCleared temp files."
    again = post(client, tenant, session)
    assert again.status_code == 409 and again.get_json()["code"] == "session_state_conflict"


def test_escalate_locally_then_resolve_then_escalate_again(client, tenant, session, worker):
    r = post(client, tenant, session, "escalation-package", markdown="## Problem\n\nDisk full on FS01")
    done = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])
    assert done["result"]["outcome"] == "escalated_local"
    s = client.get(f"/api/v1/ai-sessions/{session['id']}", headers=tenant.h("engineer")).get_json()
    assert s["status"] == "escalated" and s["escalation_reason"] == "Problem"
    assert post(client, tenant, session, "escalation-package").status_code == 409  # escalated → escalated blocked
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, session).get_json()["job"]["id"])
    assert done["result"]["session_status"] == "resolved"  # escalated → resolved allowed
    r = post(client, tenant, session, "escalation-package")
    assert r.status_code == 202  # resolved → escalated allowed


def test_concurrent_posts_make_one_job_and_409(app, tenant, session):
    def go(_: int):
        r = post(app.test_client(), tenant, session)
        return r.status_code, r.get_json()

    codes = concurrently(2, go)
    statuses = sorted(c for c, _ in codes)
    assert statuses == [202, 409]
    conflict = next(b for c, b in codes if c == 409)
    accepted = next(b for c, b in codes if c == 202)
    assert conflict["code"] == "session_state_conflict" and accepted["job"]["id"] in conflict["detail"]
    assert conflict["job_id"] == accepted["job"]["id"]


def test_idempotency_key_replays_the_same_writeback(client, tenant, session):
    h = tenant.h("engineer", **{"Idempotency-Key": "resolve-1"})
    body = {"markdown": "done"}
    a = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/post", json=body, headers=h)
    b = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/post", json=body, headers=h)
    assert a.status_code == b.status_code == 202 and a.get_json()["job"]["id"] == b.get_json()["job"]["id"]


@pytest.mark.parametrize("body", [{"markdown": ""}, {"markdown": "   "}, {"markdown": "x" * 60_001}, {}, {"markdown": "ok", "extra": 1}])
def test_bad_bodies_are_422(client, tenant, session, body):
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/post", json=body, headers=tenant.h("engineer"))
    assert r.status_code == 422
    assert client.get(f"/api/v1/ai-sessions/{session['id']}", headers=tenant.h("engineer")).get_json()["status"] == "active"


def test_roles_and_tenancy(client, tenant, other_tenant, session):
    assert post(client, other_tenant, session).status_code == 404
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/post", json={"markdown": "x"}, headers=tenant.h("l1"))
    assert r.status_code == 403
