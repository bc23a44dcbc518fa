"""Preview pipeline through the real worker with the offline generator: cache, dedupe, outcome framing."""
from __future__ import annotations

import pytest

from db.models import Job, Preview
from tests.helpers import concurrently, count_rows, wait_job

ESC_HEADINGS = ["## Problem", "## What we've confirmed", "## What we've tried", "## Current hypothesis", "## Suggested next steps"]


@pytest.fixture
def session(client, tenant):
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Outlook prompts for a password"}},
                    headers=tenant.h("engineer")).get_json()
    client.post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": "Credential Manager holds a stale entry"},
                headers=tenant.h("engineer"))
    return s


def preview(client, tenant, session, kind="resolution-note"):
    return client.post(f"/api/v1/ai-sessions/{session['id']}/{kind}/preview", headers=tenant.h("engineer"))


def generate(client, tenant, session, kind="resolution-note") -> dict:
    r = preview(client, tenant, session, kind)
    if r.status_code == 200:
        return r.get_json()
    assert r.status_code == 202, r.get_json()
    done = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])
    assert done["status"] == "succeeded", done
    return done["result"]


def set_fix(client, tenant, session, outcome=None, notes=None):
    fix = client.post(f"/api/v1/ai-sessions/{session['id']}/suggested-fixes",
                      json={"title": "Clear cached credentials", "description": "Stale token in Credential Manager",
                            "confidence_pct": 85, "ai_drafted_script": "cmdkey /delete:MicrosoftOffice16"},
                      headers=tenant.h("engineer")).get_json()
    if outcome:
        body = {"outcome": outcome} | ({"notes": notes} if notes else {})
        r = client.patch(f"/api/v1/ai-sessions/{session['id']}/suggested-fixes/{fix['id']}/outcome", json=body,
                         headers=tenant.h("engineer"))
        assert r.status_code == 200
    return fix


def test_cache_hit_is_200_without_a_job(client, tenant, session, worker, engine):
    first = generate(client, tenant, session)
    assert first["cached"] is False and first["generator"] == "offline"
    jobs_before = count_rows(engine, Job)
    again = preview(client, tenant, session)
    assert again.status_code == 200 and again.get_json()["cached"] is True
    assert again.get_json()["markdown"] == first["markdown"] and count_rows(engine, Job) == jobs_before


def test_state_change_makes_a_new_job_and_version(client, tenant, session, worker, engine):
    first = generate(client, tenant, session)
    client.post(f"/api/v1/ai-sessions/{session['id']}/facts", json={"text": "Modern auth enabled"}, headers=tenant.h("engineer"))
    r = preview(client, tenant, session)
    assert r.status_code == 202
    second = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])["result"]
    assert second["state_version"] == first["state_version"] + 1 and "Modern auth enabled" in second["markdown"]
    assert count_rows(engine, Preview) == 2


def test_concurrent_identical_requests_share_one_job(app, tenant, session, engine):
    def go(_: int):
        r = app.test_client().post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/preview", headers=tenant.h("engineer"))
        return r.status_code, r.get_json()

    results = concurrently(6, go)
    assert [s for s, _ in results] == [202] * 6, results
    assert len({b["job"]["id"] for _, b in results}) == 1
    assert count_rows(engine, Job, Job.kind == "preview.resolution_note") == 1


def test_resolution_and_escalation_are_cached_separately(client, tenant, session, worker, engine):
    note = generate(client, tenant, session)
    pkg = generate(client, tenant, session, "escalation-package")
    assert note["kind"] == "resolution_note" and pkg["kind"] == "escalation_package"
    assert note["state_version"] == pkg["state_version"] and count_rows(engine, Preview) == 2


def _positions(markdown: str) -> list[int]:
    return [markdown.index(h) for h in ESC_HEADINGS]


@pytest.mark.parametrize(
    ("outcome", "notes", "note_must", "note_must_not", "hypothesis_must"),
    [
        (None, None, ["not yet applied", "No fix has been applied"], ["Resolved:", "is resolved"], "Unverified candidate"),
        ("applied_success", None, ["Resolved:", "This issue is resolved"], ["not resolved", "Provisional"], "Confirmed"),
        ("applied_failed", "still prompts after reboot", ["did not work", "still prompts after reboot", "different approach"],
         ["This issue is resolved"], "not what Clear cached credentials addresses"),
        ("applied_partial", "web access still fails", ["Partly resolved", "web access still fails"], ["This issue is resolved"],
         "More than one cause"),
        ("applied_pending", "waiting on the user's reboot", ["Provisional", "not yet verified", "waiting on the user's reboot"],
         ["This issue is resolved", "Resolved:"], "Pending verification"),
    ],
)
def test_outcome_aware_content_offline(client, tenant, session, worker, outcome, notes, note_must, note_must_not, hypothesis_must):
    set_fix(client, tenant, session, outcome, notes)
    note = generate(client, tenant, session)["markdown"]
    for phrase in note_must:
        assert phrase in note, (phrase, note)
    for phrase in note_must_not:
        assert phrase not in note, (phrase, note)
    pkg = generate(client, tenant, session, "escalation-package")["markdown"]
    assert _positions(pkg) == sorted(_positions(pkg)) and pkg.count("\n## ") == 4
    hypothesis = pkg.split("## Current hypothesis")[1].split("## Suggested next steps")[0]
    assert hypothesis_must in hypothesis, hypothesis
    if outcome == "applied_pending":
        assert hypothesis.strip().startswith("Pending verification") and "waiting on the user's reboot" in hypothesis


def test_deleted_facts_are_excluded(client, tenant, session, worker):
    f = client.post(f"/api/v1/ai-sessions/{session['id']}/facts", json={"text": "Secret VPN detail"},
                    headers=tenant.h("engineer")).get_json()
    client.delete(f"/api/v1/ai-sessions/{session['id']}/facts/{f['id']}", headers=tenant.h("engineer"))
    note = generate(client, tenant, session)["markdown"]
    assert "Secret VPN detail" not in note and "Credential Manager holds a stale entry" in note


def test_preview_roles_and_tenancy(client, tenant, other_tenant, session):
    assert preview(client, tenant, session).status_code == 202
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/preview", headers=tenant.h("l1"))
    assert r.status_code == 403
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/preview", headers=other_tenant.h("engineer"))
    assert r.status_code == 404
