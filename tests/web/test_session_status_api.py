"""Session status moves (pause, resume, request-escalation) and the rules that read the statuses they reach."""
from __future__ import annotations

import pytest

from tests.assistant.chat import new_session, session_of
from tests.helpers import assert_problem, insert_sessions, wait_job
from tests.previews.test_preview_pipeline import generate, set_fix


def move(client, tenant, session_id: str, action: str, role: str = "engineer"):
    return client.post(f"/api/v1/ai-sessions/{session_id}/{action}", headers=tenant.h(role))


def writeback(client, tenant, session_id: str, kind: str):
    return client.post(f"/api/v1/ai-sessions/{session_id}/{kind}/post", json={"markdown": "## Summary\n\ndone"},
                       headers=tenant.h("engineer"))


def test_pause_resume_and_request_escalation_each_bump_state_version(client, tenant):
    s = new_session(client, tenant)
    version = s["state_version"]
    for action, status in (("pause", "paused"), ("resume", "active"), ("pause", "paused"),
                           ("request-escalation", "requesting_escalation")):
        r = move(client, tenant, s["id"], action)
        assert r.status_code == 200, r.get_json()
        version += 1
        assert r.get_json()["status"] == status and r.get_json()["state_version"] == version
    assert session_of(client, tenant, s["id"])["status"] == "requesting_escalation"
    active = new_session(client, tenant)
    assert move(client, tenant, active["id"], "request-escalation").get_json()["status"] == "requesting_escalation"


@pytest.mark.parametrize(("status", "action"), [
    ("active", "resume"), ("paused", "pause"), ("requesting_escalation", "pause"), ("requesting_escalation", "resume"),
    ("requesting_escalation", "request-escalation"), ("escalated", "pause"), ("escalated", "request-escalation"),
    ("resolved", "resume"), ("resolved", "pause"), ("resolved", "request-escalation"),
])
def test_moves_the_seeds_do_not_allow_are_409_and_change_nothing(client, tenant, engine, status, action):
    (sid,) = insert_sessions(engine, tenant, 1, status=status)
    body = assert_problem(move(client, tenant, str(sid), action), 409, "session_state_conflict")
    assert body["session_status"] == status
    after = session_of(client, tenant, str(sid))
    assert after["status"] == status and after["state_version"] == 1


def test_tenancy_and_roles(client, tenant, other_tenant):
    sid = new_session(client, tenant)["id"]
    for action in ("pause", "resume", "request-escalation"):
        assert_problem(move(client, other_tenant, sid, action), 404, "session_not_found")
        assert_problem(move(client, tenant, sid, action, role="l1"), 403, "forbidden")
    assert session_of(client, tenant, sid)["status"] == "active"


def test_writeback_rules_read_the_new_statuses(client, tenant, worker):
    """Resolve from paused and from requesting_escalation; escalate from paused, never mid-request."""
    paused = new_session(client, tenant)["id"]
    move(client, tenant, paused, "pause")
    requesting = new_session(client, tenant)["id"]
    move(client, tenant, requesting, "request-escalation")
    assert_problem(writeback(client, tenant, requesting, "escalation-package"), 409, "session_state_conflict")
    for sid in (paused, requesting):
        r = writeback(client, tenant, sid, "resolution-note")
        assert r.status_code == 202, r.get_json()
        done = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])
        assert done["result"]["outcome"] == "resolved_local" and session_of(client, tenant, sid)["status"] == "resolved"
        assert_problem(move(client, tenant, sid, "resume"), 409, "session_state_conflict")
    escalating = new_session(client, tenant)["id"]
    move(client, tenant, escalating, "pause")
    done = wait_job(client, tenant.h("engineer"),
                    writeback(client, tenant, escalating, "escalation-package").get_json()["job"]["id"])
    assert done["result"]["outcome"] == "escalated_local"


@pytest.mark.parametrize("action", ["pause", "request-escalation"])
def test_previews_keep_their_outcome_rules_in_the_new_statuses(client, tenant, worker, action):
    s = new_session(client, tenant, problem="Outlook prompts for a password")
    fix = set_fix(client, tenant, s)
    before = generate(client, tenant, s)
    assert move(client, tenant, s["id"], action).status_code == 200
    proposed = generate(client, tenant, s)
    assert proposed["state_version"] == before["state_version"] + 1 and proposed["cached"] is False
    assert "not confirmed as fixed" in proposed["markdown"]  # proposed, not applied: no claim of a fix
    client.patch(f"/api/v1/ai-sessions/{s['id']}/suggested-fixes/{fix['id']}/outcome",
                 json={"outcome": "applied_pending", "notes": "the user's reboot"}, headers=tenant.h("engineer"))
    pending = generate(client, tenant, s, "escalation-package")["markdown"]
    assert "Pending verification" in pending and "the user's reboot" in pending
