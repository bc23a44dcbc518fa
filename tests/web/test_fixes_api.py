"""Suggested fixes: supersede, decisions, outcomes — the seed's rules, each with a counterpart here."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import DraftTemplate, SessionSuggestedFix
from tests.helpers import concurrently, wait_job

SCRIPT = "  Restart-Service -Name Spooler -ComputerName SRV-PRN01\n  Get-ADUser -Identity jsmith  \n"


@pytest.fixture
def session(client, tenant):
    resp = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printing fails"}}, headers=tenant.h("engineer"))
    return resp.get_json()


def add_fix(client, tenant, session, **over):
    body = {"title": "Restart the print spooler", "description": "Spooler hung", "confidence_pct": 80,
            "ai_drafted_script": SCRIPT}
    body.update(over)
    resp = client.post(f"/api/v1/ai-sessions/{session['id']}/suggested-fixes", json=body, headers=tenant.h("engineer"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def version(client, tenant, session) -> int:
    return client.get(f"/api/v1/ai-sessions/{session['id']}", headers=tenant.h("engineer")).get_json()["state_version"]


def url(session, fix=None, tail=""):
    base = f"/api/v1/ai-sessions/{session['id']}/suggested-fixes"
    return f"{base}/{fix['id']}{tail}" if fix else base + tail


def test_active_fix_404_then_newest_unsuperseded(client, tenant, session):
    none = client.get(url(session, tail="/active"), headers=tenant.h("engineer"))
    assert none.status_code == 404 and none.get_json()["code"] == "no_active_fix"
    first = add_fix(client, tenant, session)
    second = add_fix(client, tenant, session, title="Clear the queue")
    active = client.get(url(session, tail="/active"), headers=tenant.h("engineer")).get_json()
    assert active["id"] == second["id"] and active["superseded_at"] is None
    assert second["state_version"] == first["state_version"] + 1


def test_database_enforces_one_active_fix(engine, client, tenant, session):
    add_fix(client, tenant, session)
    with pytest.raises(IntegrityError):
        with transaction(engine, tenant_scope(tenant.account_id)) as db:
            db.add(SessionSuggestedFix(id=uuid.uuid4(), session_id=uuid.UUID(session["id"]), account_id=tenant.account_id,
                                       title="t", description="d", confidence_pct=1, status="proposed"))


def test_concurrent_fix_creation_leaves_one_active(app, tenant, session, engine):
    def go(i):
        r = app.test_client().post(url(session), json={"title": f"fix {i}", "description": "d", "confidence_pct": 5},
                                   headers=tenant.h("engineer"))
        return r.status_code, r.get_data(as_text=True)

    results = concurrently(5, go)
    assert [s for s, _ in results] == [201] * 5, results
    with transaction(engine, SYSTEM) as db:
        active = db.execute(select(SessionSuggestedFix).where(SessionSuggestedFix.superseded_at.is_(None))).scalars().all()
    assert len(active) == 1


def test_dismissed_supersedes_active_and_409_on_superseded(client, tenant, session):
    old = add_fix(client, tenant, session)
    new = add_fix(client, tenant, session, title="Another")
    r = client.post(url(session, old, "/decision"), json={"decision": "dismissed"}, headers=tenant.h("engineer"))
    assert r.status_code == 409 and r.get_json()["code"] == "fix_superseded"
    v = version(client, tenant, session)
    r = client.post(url(session, new, "/decision"), json={"decision": "dismissed"}, headers=tenant.h("engineer"))
    assert r.status_code == 200 and r.get_json()["user_decision"] == "dismissed"
    assert version(client, tenant, session) == v + 1
    assert client.get(url(session, tail="/active"), headers=tenant.h("engineer")).status_code == 404


def test_non_dismiss_decision_on_superseded_fix_is_recorded(client, tenant, session):
    old = add_fix(client, tenant, session)
    add_fix(client, tenant, session, title="Another")
    r = client.post(url(session, old, "/decision"), json={"decision": "one_off"}, headers=tenant.h("engineer"))
    assert r.status_code == 200 and r.get_json()["user_decision"] == "one_off"


def test_script_paths_need_a_drafted_script(client, tenant, session, engine):
    fix = add_fix(client, tenant, session, ai_drafted_script=None)
    v = version(client, tenant, session)
    for decision in ("one_off", "draft_template", "build_template"):
        r = client.post(url(session, fix, "/decision"), json={"decision": decision}, headers=tenant.h("engineer"))
        assert r.status_code == 400 and r.get_json()["code"] == "no_drafted_script"
        assert "/api/v1/scripts/generate" in r.get_json()["detail"]
    assert version(client, tenant, session) == v  # nothing written
    with transaction(engine, SYSTEM) as db:
        assert db.get(SessionSuggestedFix, uuid.UUID(fix["id"])).user_decision is None


def test_one_off_returns_stripped_script_and_edited_wins(client, tenant, session):
    fix = add_fix(client, tenant, session)
    v = version(client, tenant, session)
    r = client.post(url(session, fix, "/decision"), json={"decision": "one_off"}, headers=tenant.h("engineer"))
    assert r.get_json()["rendered_script"] == SCRIPT.strip() and r.get_json()["state_version"] == v + 1
    r = client.post(url(session, fix, "/decision"), json={"decision": "one_off", "edited_script": " echo hi \n"},
                    headers=tenant.h("engineer"))
    assert r.get_json()["rendered_script"] == "echo hi"


def test_build_template_returns_redirect(client, tenant, session):
    fix = add_fix(client, tenant, session)
    r = client.post(url(session, fix, "/decision"), json={"decision": "build_template"}, headers=tenant.h("engineer"))
    assert r.status_code == 200
    assert r.get_json()["redirect_path"] == f"/scripts/builder?from_session={session['id']}&fix={fix['id']}"


def test_draft_template_job_creates_pending_draft(client, tenant, session, engine, worker):
    client.post(f"/api/v1/ai-sessions/{session['id']}/facts", json={"text": "SRV-PRN01 spooler crashed"}, headers=tenant.h("engineer"))
    fix = add_fix(client, tenant, session, title="T" * 200)
    r = client.post(url(session, fix, "/decision"), json={"decision": "draft_template"}, headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    job = r.get_json()["job"]
    assert job["kind"] == "template.extract" and r.get_json()["rendered_script"] == SCRIPT.strip()
    done = wait_job(client, tenant.h("engineer"), job["id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    names = {p["name"]: p for p in result["parameters"]}
    assert names["computer_name"]["default"] == "SRV-PRN01" and names["computer_name"]["seen_in_facts"]
    assert names["user_name"]["default"] == "jsmith"
    assert "{{computer_name}}" in result["templated_body"] and "SRV-PRN01" not in result["templated_body"]
    with transaction(engine, SYSTEM) as db:
        drafts = db.execute(select(DraftTemplate)).scalars().all()
    assert len(drafts) == 1 and drafts[0].status == "pending" and drafts[0].proposed_name == "T" * 200
    assert str(drafts[0].id) == result["draft_template_id"] and drafts[0].source_fix_id == uuid.UUID(fix["id"])


def test_outcome_notes_required_for_partial_and_pending(client, tenant, session):
    fix = add_fix(client, tenant, session)
    for outcome in ("applied_partial", "applied_pending"):
        for notes in (None, "   "):
            body = {"outcome": outcome} | ({"notes": notes} if notes is not None else {})
            r = client.patch(url(session, fix, "/outcome"), json=body, headers=tenant.h("engineer"))
            assert r.status_code == 400 and r.get_json()["code"] == "notes_required"


def test_outcome_partial_failed_success_fields(client, tenant, session):
    fix = add_fix(client, tenant, session)
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_partial", "notes": " some printers ok "},
                     headers=tenant.h("engineer")).get_json()
    assert r["status"] == "applied_partial" and r["partial_notes"] == "some printers ok" and r["applied_at"]
    applied_at = r["applied_at"]
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_failed", "notes": "still jammed"},
                     headers=tenant.h("engineer")).get_json()
    assert r["failure_reason"] == "still jammed" and r["verified_at"] and r["applied_at"] == applied_at
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_success"}, headers=tenant.h("engineer"))
    assert r.status_code == 409 and r.get_json()["code"] == "fix_outcome_terminal"


def test_pending_parks_then_moves_on(client, tenant, session):
    fix = add_fix(client, tenant, session)
    v = version(client, tenant, session)
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_pending", "notes": "waiting on reboot"},
                     headers=tenant.h("engineer")).get_json()
    assert r["pending_reason"] == "waiting on reboot" and r["applied_at"] and r["verified_at"] is None
    assert r["state_version"] == v + 1
    applied_at = r["applied_at"]
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_pending", "notes": "waiting on AD sync"},
                     headers=tenant.h("engineer")).get_json()
    assert r["pending_reason"] == "waiting on AD sync" and r["verified_at"] is None
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_success"}, headers=tenant.h("engineer")).get_json()
    assert r["status"] == "applied_success" and r["verified_at"] and r["applied_at"] == applied_at
    assert r["state_version"] == v + 3


@pytest.mark.parametrize("terminal", ["applied_success", "applied_failed", "dismissed"])
def test_terminal_outcomes_conflict(client, tenant, session, terminal):
    fix = add_fix(client, tenant, session)
    r = client.patch(url(session, fix, "/outcome"), json={"outcome": terminal, "notes": "n"}, headers=tenant.h("engineer"))
    assert r.status_code == 200
    if terminal == "dismissed":
        assert r.get_json()["applied_at"] is None and r.get_json()["verified_at"] is None
    again = client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_pending", "notes": "x"}, headers=tenant.h("engineer"))
    assert again.status_code == 409


def test_concurrent_outcome_patches_bump_twice(app, tenant, session):
    c = app.test_client()
    fix = add_fix(c, tenant, session)
    v = version(c, tenant, session)

    def go(i):
        return app.test_client().patch(url(session, fix, "/outcome"), json={"outcome": "applied_pending", "notes": "ab"[i]},
                                       headers=tenant.h("engineer")).status_code

    assert concurrently(2, go) == [200, 200] and version(c, tenant, session) == v + 2


def test_roles_tenancy_and_foreign_fix_ids(client, tenant, other_tenant, session):
    fix = add_fix(client, tenant, session)
    assert client.post(url(session), json={}, headers=tenant.h("l1")).status_code == 403
    assert client.get(url(session, tail="/active"), headers=tenant.h("l1")).status_code == 403
    h = other_tenant.h("engineer")
    assert client.get(url(session, tail="/active"), headers=h).status_code == 404
    assert client.post(url(session, fix, "/decision"), json={"decision": "dismissed"}, headers=h).status_code == 404
    assert client.patch(url(session, fix, "/outcome"), json={"outcome": "applied_success"}, headers=h).status_code == 404
    other = client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("engineer")).get_json()
    r = client.post(url(other, fix, "/decision"), json={"decision": "dismissed"}, headers=tenant.h("engineer"))
    assert r.status_code == 404 and r.get_json()["code"] == "fix_not_found"
    bad = client.patch(url(session, fix, "/outcome"), json={"outcome": "worked"}, headers=tenant.h("engineer"))
    assert bad.status_code == 422
