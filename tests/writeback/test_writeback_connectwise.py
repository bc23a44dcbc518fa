"""Writeback through the real worker and the real ConnectWise client against the simulator.

Every test ends by counting the notes on the simulator's ticket.
"""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.helpers import concurrently, sweep, wait_job, worker_process

TICKET = 48291


def configure(client, tenant, **prefs):
    r = client.patch("/api/v1/account-settings", json={"preferences": prefs}, headers=tenant.h())
    assert r.status_code == 200


def post(client, tenant, session, kind="resolution-note", markdown="## Summary\n\nPrinter back online."):
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/{kind}/post", json={"markdown": markdown}, headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return r.get_json()["job"]["id"]


def get_session(client, tenant, session):
    return client.get(f"/api/v1/ai-sessions/{session['id']}", headers=tenant.h("engineer")).get_json()


def test_happy_resolve_posts_one_note_and_verifies_status(client, tenant, linked, cw_sim, psa_worker):
    configure(client, tenant, cw_resolved_status_id=42)
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]))
    assert done["status"] == "succeeded", done
    r = done["result"]
    assert r["outcome"] == "resolved" and r["session_status"] == "resolved"
    assert r["verified_status_id"] == 42 and r["verified_status_name"] == "Resolved" and r["external_id"]
    assert r["status_transition_skipped_reason"] is None and r["posted_at"]
    notes = cw_sim.notes(TICKET)
    assert len(notes) == 1 and notes[0]["resolutionFlag"] is True and notes[0]["internalAnalysisFlag"] is False
    assert notes[0]["processNotifications"] is False and str(notes[0]["id"]) == r["external_id"]
    assert cw_sim.ticket(TICKET)["status"]["id"] == 42
    s = get_session(client, tenant, linked["session"])
    assert s["status"] == "resolved" and s["resolution_note_external_id"] == r["external_id"] and s["resolved_at"]


def test_escalate_posts_internal_note_and_moves_status(client, tenant, linked, cw_sim, psa_worker):
    configure(client, tenant, cw_resolved_status_id=42, cw_escalated_status_id=43)
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"], "escalation-package", "## Problem\n\nx"))
    assert done["status"] == "succeeded" and done["result"]["outcome"] == "escalated"
    assert done["result"]["verified_status_id"] == 43
    notes = cw_sim.notes(TICKET)
    assert len(notes) == 1 and notes[0]["internalAnalysisFlag"] is True and notes[0]["resolutionFlag"] is False
    assert notes[0]["detailDescriptionFlag"] is False
    assert get_session(client, tenant, linked["session"])["escalation_package_external_id"] == done["result"]["external_id"]


def test_unconfigured_status_posts_note_without_patch(client, tenant, linked, cw_sim, psa_worker):
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]))
    assert done["status"] == "succeeded"
    assert "cw_resolved_status_id is not configured" in done["result"]["status_transition_skipped_reason"]
    assert cw_sim.count("PATCH", "ticket") == 0 and len(cw_sim.notes(TICKET)) == 1
    assert cw_sim.ticket(TICKET)["status"]["id"] == 1


def test_silent_status_rejection_fails_then_retry_posts_no_second_note(client, tenant, linked, cw_sim, psa_worker):
    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("PATCH", "ticket", "patch_ignored", times=10)
    job_id = post(client, tenant, linked["session"])
    done = wait_job(client, tenant.h("engineer"), job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "status_verification_failed"
    assert done["error"]["detail"]["observed"] == {"id": 1, "name": "New"}
    s = get_session(client, tenant, linked["session"])
    assert s["status"] == "active" and s["resolution_note_external_id"]  # the note stays recorded
    assert len(cw_sim.notes(TICKET)) == 1
    blocked = client.post(f"/api/v1/ai-sessions/{linked['session']['id']}/resolution-note/post",
                          json={"markdown": "again"}, headers=tenant.h("engineer"))
    assert blocked.status_code == 409 and blocked.get_json()["job_id"] == job_id
    cw_sim.clear_faults()  # the simulator is "fixed"
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tenant.h("engineer")).status_code == 202
    done = wait_job(client, tenant.h("engineer"), job_id)
    assert done["status"] == "succeeded" and done["result"]["verified_status_id"] == 42
    assert len(cw_sim.notes(TICKET)) == 1 and cw_sim.count("POST", "notes") == 1


@pytest.mark.parametrize("fault", ["store_then_drop", "store_then_timeout"])
def test_note_stored_but_response_lost_is_adopted(client, tenant, linked, cw_sim, psa_worker, fault):
    cw_sim.inject("POST", "notes", fault, **({"seconds": 2} if fault == "store_then_timeout" else {}))
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]), timeout=30)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    notes = cw_sim.notes(TICKET)
    assert len(notes) == 1 and str(notes[0]["id"]) == done["result"]["external_id"]


def test_500_twice_then_success_posts_once(client, tenant, linked, cw_sim, psa_worker):
    cw_sim.inject("POST", "notes", "status500", times=2)
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]), timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 3
    assert len(cw_sim.notes(TICKET)) == 1


def test_429_retry_after_is_honoured_and_posts_once(client, tenant, linked, cw_sim, psa_worker):
    cw_sim.inject("POST", "notes", "status429", retry_after=2)
    job_id = post(client, tenant, linked["session"])
    retrying = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    assert retrying["error"]["code"] == "psa_rate_limited"
    failed_at = time.time()
    done = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert done["status"] == "succeeded"
    second = [r for r in cw_sim.request_log if r.method == "POST" and r.endpoint == "notes"]
    assert len(second) == 2
    next_at = datetime.fromisoformat(retrying["next_attempt_at"].replace("Z", "+00:00")).timestamp()
    assert next_at - failed_at >= 1.5
    assert len(cw_sim.notes(TICKET)) == 1


def test_wrong_credentials_fail_once_without_retries(client, tenant, linked, cw_sim, psa_worker):
    client.patch(f"/api/v1/psa-connections/{linked['connection']['id']}", json={"private_key": "wrong"}, headers=tenant.h())
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]))
    assert done["status"] == "failed" and done["error"]["code"] == "psa_auth_failed" and done["attempts"] == 1
    assert "wrong" not in str(done["error"]) and len(cw_sim.notes(TICKET)) == 0


def test_status_not_on_board_is_rejected(client, tenant, linked, cw_sim, psa_worker):
    configure(client, tenant, cw_resolved_status_id=17)
    done = wait_job(client, tenant.h("engineer"), post(client, tenant, linked["session"]))
    assert done["status"] == "failed" and done["error"]["code"] == "psa_rejected"
    assert len(cw_sim.notes(TICKET)) == 1



@pytest.mark.slow
def test_worker_killed_after_note_post_adopts_the_note(app, settings, settings_env, client, tenant, linked, cw_sim):
    """SIGKILL while the note POST has landed but before `note_posted` is recorded: one note in the end."""
    import os
    import signal

    from tests.helpers import start_worker

    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("POST", "notes", "store_then_timeout", seconds=6)  # stored; the answer never comes in time
    job_id = post(client, tenant, linked["session"])
    with worker_process(dict(settings_env, FLOWPILOT_PSA_TIMEOUT_S="20")) as proc:
        deadline = time.monotonic() + 30
        while not cw_sim.notes(TICKET) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(cw_sim.notes(TICKET)) == 1
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    running = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.h("engineer")).get_json()
    assert running["status"] == "running"
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    assert sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s, redispatch_after_s=60).rescued == 1
    with start_worker(settings):
        done = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done  # the dead process cost it no attempt
    notes = cw_sim.notes(TICKET)
    assert len(notes) == 1 and str(notes[0]["id"]) == done["result"]["external_id"]
    assert cw_sim.count("POST", "notes") == 1 and cw_sim.ticket(TICKET)["status"]["id"] == 42


def test_concurrent_posts_with_ticket_one_job_one_409(app, tenant, linked, cw_sim, psa_worker):
    def go(_: int):
        r = app.test_client().post(f"/api/v1/ai-sessions/{linked['session']['id']}/resolution-note/post",
                                   json={"markdown": "done"}, headers=tenant.h("engineer"))
        return r.status_code, r.get_json()

    codes = concurrently(2, go)
    assert sorted(c for c, _ in codes) == [202, 409]
    job_id = next(b for c, b in codes if c == 202)["job"]["id"]
    assert wait_job(app.test_client(), tenant.h("engineer"), job_id)["status"] == "succeeded"
    assert len(cw_sim.notes(TICKET)) == 1
