"""The other ways through the workspace, in Chromium: escalate (an internal note), a post whose status change
ConnectWise silently ignores (shown as such, then retried without a second note), a sign-in that expires
mid-work, a deep link through sign-in, another tenant's session, and an operator's way to /ops."""
from __future__ import annotations

import re
import time

from db.engine import SYSTEM, transaction
from db.models import User
from shared.security.passwords import hash_password
from tests.pages.conftest import DESKTOP, PASSWORD, give_passwords, serve, shot, sign_in, sync_api
from tests.pages.workspace import new_session, suggest_fix


def open_session(browser, live_url, email, session_id):
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, email)  # a deep link: sign-in first, then the same URL
    assert page.url.endswith(f"/app/sessions/{session_id}")
    sync_api.expect(page.get_by_test_id("session-status")).to_be_visible()
    return page


def test_escalate_posts_an_internal_note(live_url, browser, people, connected, client, tenant, cw_sim, worker):
    expect = sync_api.expect
    session_id = new_session(client, tenant, connected, "VPN drops every 20 minutes on the sales laptops")
    suggest_fix(client, tenant, session_id)
    page = open_session(browser, live_url, people.emails["engineer"], session_id)
    page.get_by_test_id("decision-one_off").click()
    page.get_by_test_id("outcome-applied_failed").click()
    expect(page.get_by_test_id("fix-card")).to_have_attribute("data-status", "applied_failed")

    page.get_by_test_id("preview-escalate").click()
    expect(page.get_by_test_id("preview-panel")).to_have_attribute("data-kind", "escalate")
    editor = page.get_by_test_id("preview-editor")
    expect(editor).to_be_visible()
    markdown = editor.input_value()
    page.get_by_test_id("preview-regenerate").click()  # nothing changed: the same draft, said so
    expect(page.get_by_test_id("toast")).to_contain_text("Nothing changed in the session")
    assert editor.input_value() == markdown
    for section in ("Problem", "What we've confirmed", "What we've tried", "Current hypothesis", "Suggested next steps"):
        expect(page.get_by_test_id("preview-rendered").get_by_role("heading", name=section)).to_be_visible()
    page.get_by_test_id("preview-confirm").click()
    toast = page.get_by_test_id("toast").filter(has_text="Escalated")
    expect(toast).to_have_attribute("data-kind", "success")
    expect(toast).to_contain_text("Internal escalation note")
    expect(toast).to_contain_text("ConnectWise status verified: Escalated")
    expect(page.get_by_test_id("session-status")).to_have_text("escalated")
    expect(page.get_by_test_id("posted-summary")).to_contain_text("Escalation package")
    notes = cw_sim.notes(48291)
    assert len(notes) == 1 and notes[0]["internalAnalysisFlag"] is True and notes[0]["resolutionFlag"] is False
    assert notes[0]["text"].strip() == markdown.strip()
    # Escalated, it may still be resolved later; it may not be escalated twice.
    expect(page.get_by_test_id("preview-resolve")).to_be_visible()
    expect(page.get_by_test_id("preview-escalate")).to_have_count(0)
    shot(page, "09-escalated")
    assert browser.unexpected_problems() == []


def test_status_verification_failure_is_shown_then_retried(live_url, browser, people, connected, client, tenant, cw_sim,
                                                           worker):
    expect = sync_api.expect
    session_id = new_session(client, tenant, connected, "Shared mailbox missing from Outlook")
    page = open_session(browser, live_url, people.emails["engineer"], session_id)
    cw_sim.inject("PATCH", "ticket", "patch_ignored", times=10)  # CW answers 200 and keeps the old status

    page.get_by_test_id("preview-resolve").click()
    expect(page.get_by_test_id("preview-editor")).to_be_visible()
    page.get_by_test_id("preview-confirm").click()
    toast = page.get_by_test_id("toast")
    expect(toast).to_have_attribute("data-kind", "error")
    expect(toast).to_contain_text("ConnectWise did not take the status change")
    expect(toast).to_contain_text("The note was posted")
    expect(toast).to_contain_text("is kept")
    expect(page.get_by_test_id("post-status")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("session-status")).to_have_text("active")
    assert len(cw_sim.notes(48291)) == 1
    shot(page, "10-status-verification-failed")

    # The failure survives a reload (the page finds the session's writeback job) and is retried from there.
    page.reload()
    expect(page.get_by_test_id("post-status")).to_have_attribute("data-status", "failed")
    cw_sim.clear_faults()
    page.get_by_test_id("post-retry").click()
    ok = page.get_by_test_id("toast").filter(has_text="Resolved")
    expect(ok).to_have_attribute("data-kind", "success")
    expect(ok).to_contain_text("ConnectWise status verified: Resolved")
    expect(page.get_by_test_id("session-status")).to_have_text("resolved")
    assert len(cw_sim.notes(48291)) == 1 and cw_sim.count("POST", "notes") == 1
    assert cw_sim.ticket(48291)["status"]["id"] == 42
    assert browser.unexpected_problems() == []


def test_expired_sign_in_goes_back_to_sign_in_and_returns(settings, browser, engine, tenant, client, worker):
    from web import create_app

    expect = sync_api.expect
    short = create_app(settings.model_copy(update={"flowpilot_login_token_ttl_s": 3.0}))
    url, stop = serve(short)
    try:
        people = give_passwords(engine, tenant)
        session_id = new_session(client, tenant, None, "Teams calls drop after 30 seconds")
        page = open_session(browser, url, people.emails["engineer"], session_id)
        time.sleep(3.5)
        page.get_by_test_id("fact-input").fill("Happens on wifi and cable")
        page.get_by_test_id("fact-add").click()  # the API answers 401: the token has expired
        expect(page.get_by_test_id("login-email")).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="sign-in has ended")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('flowpilot.token')") is None
        assert page.url.endswith(f"/app/sessions/{session_id}")
        shot(page, "11-sign-in-expired", full_page=False)
        sign_in(page, people.emails["engineer"])
        expect(page.get_by_test_id("session-status")).to_have_text("active")
        assert page.url.endswith(f"/app/sessions/{session_id}")
    finally:
        stop()
        short.extensions["flowpilot"].dispose()


def test_another_tenants_session_is_not_found(live_url, browser, people, client, other_tenant):
    expect = sync_api.expect
    foreign = new_session(client, other_tenant, None, "Someone else's printer")
    page = open_session_expect_missing(browser, live_url, people.emails["engineer"], foreign)
    expect(page.get_by_test_id("not-found")).to_contain_text("not found")
    expect(page.get_by_test_id("session-status")).to_have_count(0)
    assert "printer" not in page.content().lower()
    page.goto(f"{live_url}/app/sessions/not-a-uuid")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    page.goto(f"{live_url}/app/nowhere")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    shot(page, "12-not-found", full_page=False)


def open_session_expect_missing(browser, live_url, email, session_id):
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, email)
    sync_api.expect(page.get_by_test_id("not-found")).to_be_visible()
    return page


def test_operator_signs_in_and_lands_on_the_console(live_url, browser, engine, operator, client):
    expect = sync_api.expect
    me = client.get("/api/v1/me", headers=operator).get_json()
    with transaction(engine, SYSTEM) as db:
        db.get(User, me["id"]).password_hash = hash_password(PASSWORD)
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app")
    page.get_by_test_id("login-email").fill(me["email"])
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/ops$"))
    expect(page.locator("#console")).to_be_visible()  # the same tab's sign-in: no second login
    page.click("#logout")
    expect(page.locator("#signin-form")).to_be_visible()
    page.fill("#email", me["email"])
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#console")).to_be_visible()
