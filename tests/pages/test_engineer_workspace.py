"""The engineer's workspace in a real Chromium, over the real stack: sign in, start a session linked to a
simulator ticket, converse with the offline assistant until it suggests a fix, record the fix's outcome through
the banner, preview, edit, confirm & post, and watch the note land in ConnectWise (the simulator) exactly once."""
from __future__ import annotations

import re

from tests.pages.conftest import DESKTOP, JOB_WAIT_MS, PHONE, shot, sign_in, sync_api
from tests.pages.workspace import RECORD_PENDING, new_session, say, suggest_fix

EDIT = "Edited in the browser: the customer confirmed Outlook stopped prompting."


def test_sign_in_new_session_converse_outcome_preview_edit_post(live_url, browser, people, connected, client, tenant,
                                                                cw_sim, worker):
    expect = sync_api.expect
    new_session(client, tenant, None, "New laptop cannot join the office wifi")
    new_session(client, tenant, connected, "Scanner emails never arrive in the shared mailbox")
    page = browser.page(DESKTOP)
    page.add_init_script(RECORD_PENDING)

    # `/` leads to /app, which asks for a sign-in; a wrong password says so without saying which part.
    page.goto(live_url + "/")
    expect(page).to_have_url(re.compile(r"/app$"))
    page.get_by_test_id("login-email").fill(people.emails["engineer"])
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    shot(page, "01-sign-in", full_page=False)
    sign_in(page, people.emails["engineer"])
    expect(page).to_have_url(re.compile(r"/app/sessions$"))
    token = page.evaluate("sessionStorage.getItem('flowpilot.token')")
    assert token and token not in page.url and page.evaluate("document.cookie") == ""

    # A new session linked to the simulator's ticket.
    page.get_by_test_id("new-session-problem").fill("Outlook keeps asking for a password after the reset")
    page.get_by_test_id("new-session-connection").select_option(connected["id"])
    page.get_by_test_id("new-session-ticket").fill("48291")
    page.get_by_test_id("new-session-submit").click()
    expect(page).to_have_url(re.compile(r"/app/sessions/[0-9a-f-]{36}$"))
    session_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("session-status")).to_have_text("active")
    expect(page.get_by_test_id("outcome-banner")).to_have_attribute("data-mode", "none")

    # Converse with the (offline) assistant: it asks for evidence one question at a time, records each answer
    # as a fact, then suggests a fix with a script.
    first = say(page, "It started this morning on her laptop")
    expect(first).to_contain_text("Outlook on the web")
    assert "assistant-pending" not in page.content()
    assert page.evaluate("window.__pending.length") >= 1  # "thinking" (or the text so far) showed while it ran
    expect(say(page, "Yes, Outlook on the web accepts the same password")).to_contain_text("password changed recently")
    expect(say(page, "Yes, it was reset yesterday by the helpdesk")).to_contain_text("other devices")
    expect(page.get_by_test_id("fact-item")).to_have_count(2)
    expect(page.get_by_test_id("fact-item").first).to_contain_text("Outlook on the web: Yes")
    expect(page.get_by_test_id("fix-card")).to_have_count(0)
    suggestion = say(page, "Only on her laptop, the phone is fine")
    expect(suggestion).to_contain_text("I've suggested a fix")
    card = page.get_by_test_id("fix-card")
    expect(card).to_have_attribute("data-status", "proposed")
    expect(page.get_by_test_id("fix-title")).to_have_text("Clear cached Office credentials and enforce modern authentication")
    expect(page.get_by_test_id("fix-script")).to_contain_text("cmdkey /list")
    expect(page.get_by_test_id("fact-item")).to_have_count(3)
    # The transcript as the messages API keeps it: oldest first, the user's and the assistant's turns in order.
    roles = page.get_by_test_id("chat-message").evaluate_all("els => els.map(e => e.dataset.role)")
    assert roles == ["user", "assistant"] * 4, roles
    fix = client.get(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/active", headers=tenant.h("engineer")).get_json()
    expect(card).to_have_attribute("data-fix-id", fix["id"])

    # Facts: the engineer adds one and removes one of their own; the assistant's stay.
    for text in ("Password was reset yesterday", "Teams signs in fine"):
        page.get_by_test_id("fact-input").fill(text)
        page.get_by_test_id("fact-add").click()
        expect(page.get_by_test_id("fact-item").filter(has_text=text)).to_be_visible()
    page.get_by_test_id("fact-item").filter(has_text="Teams").get_by_test_id("fact-delete").click()
    expect(page.get_by_test_id("fact-item")).to_have_count(4)

    page.get_by_test_id("decision-one_off").click()
    banner = page.get_by_test_id("outcome-banner")
    expect(banner).to_have_attribute("data-mode", "verifying")
    shot(page, "03-session-verifying")

    # Waiting to verify, with the reason; then it worked.
    page.get_by_test_id("outcome-applied_pending").click()
    page.get_by_test_id("outcome-notes").fill("Waiting for the user to restart Outlook")
    page.get_by_test_id("outcome-submit").click()
    expect(banner).to_have_attribute("data-mode", "pending")
    expect(banner).to_contain_text("Waiting for the user to restart Outlook")
    expect(card).to_have_attribute("data-status", "applied_pending")
    expect(page.get_by_test_id("toast")).to_have_attribute("data-kind", "success")
    shot(page, "04-session-pending")
    page.get_by_test_id("outcome-applied_success").click()
    expect(card).to_have_attribute("data-status", "applied_success")
    expect(banner).to_have_attribute("data-mode", "none")

    # Preview the resolution note, edit it, see it rendered, confirm & post.
    page.get_by_test_id("preview-resolve").click()
    panel = page.get_by_test_id("preview-panel")
    expect(panel).to_have_attribute("data-kind", "resolve")
    editor = page.get_by_test_id("preview-editor")
    expect(editor).to_be_visible(timeout=JOB_WAIT_MS)  # a preview job writes the draft
    draft = editor.input_value()
    assert draft.strip(), "the offline generator wrote no draft"
    edited = f"{draft.rstrip()}\n\n**{EDIT}**"
    editor.fill(edited)
    expect(page.get_by_test_id("preview-rendered").locator("strong", has_text=EDIT)).to_be_visible()
    shot(page, "05-preview-edited")
    page.get_by_test_id("preview-confirm").click()
    toast = page.get_by_test_id("toast").filter(has_text="Resolved")
    expect(toast).to_have_attribute("data-kind", "success", timeout=JOB_WAIT_MS)  # the writeback job
    expect(toast).to_contain_text("ConnectWise status verified: Resolved")
    expect(page.get_by_test_id("post-status")).to_have_text("succeeded: status_verified")
    expect(page.get_by_test_id("session-status")).to_have_text("resolved")
    summary = page.get_by_test_id("posted-summary")
    expect(summary).to_contain_text("ticket #48291")
    expect(summary).to_contain_text(EDIT)
    expect(page.get_by_test_id("preview-resolve")).to_have_count(0)
    shot(page, "06-resolved")

    # The simulator holds exactly one note: the edited text, customer-visible; the ticket moved to Resolved.
    notes = cw_sim.notes(48291)
    assert len(notes) == 1, notes
    assert notes[0]["text"].strip() == edited.strip()
    assert notes[0]["resolutionFlag"] is True and notes[0]["internalAnalysisFlag"] is False
    assert cw_sim.ticket(48291)["status"]["id"] == 42

    # The list shows it, newest activity first, and filters by status.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    row = page.get_by_test_id("session-row").first
    expect(row).to_have_attribute("data-session-id", session_id)
    page.get_by_test_id("status-filter").select_option("active")
    expect(page.get_by_test_id("session-row")).to_have_count(2)
    page.get_by_test_id("status-filter").select_option("resolved")
    expect(page.get_by_test_id("session-row")).to_have_count(1)
    page.get_by_test_id("status-filter").select_option("")
    expect(page.get_by_test_id("session-row")).to_have_count(3)
    page.get_by_role("button", name="Dismiss notification").click()
    shot(page, "02-sessions")

    # Sign out: the token is revoked on the server, not only forgotten here.
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-email")).to_be_visible()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert browser.unexpected_problems() == []


def test_phone_layout_and_keyboard(live_url, browser, people, connected, client, tenant, worker):
    expect = sync_api.expect
    session_id = new_session(client, tenant, connected, "Printer on floor 2 shows offline for everyone")
    suggest_fix(client, tenant, session_id)
    client.post(f"/api/v1/ai-sessions/{session_id}/facts", json={"text": "Spooler restarts every minute"},
                headers=tenant.h("engineer"))
    page = browser.page(PHONE)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    # Keyboard only: tab to the fields, type, Enter submits.
    page.get_by_test_id("login-email").focus()
    page.keyboard.type(people.emails["engineer"])
    page.keyboard.press("Tab")
    page.keyboard.type("browser-test-password")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("fix-card")).to_be_visible()
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_test_id("decision-one_off").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("outcome-banner")).to_have_attribute("data-mode", "verifying")
    shot(page, "07-phone-session")
    page.get_by_test_id("preview-resolve").click()
    editor = page.get_by_test_id("preview-editor")
    expect(editor).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "08-phone-preview")
    # Markup typed into the note is rendered as sanitised markdown: no script runs, no handler survives.
    editor.fill('Hi <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> [x](javascript:alert(1)) **ok**')
    rendered = page.get_by_test_id("preview-rendered")
    expect(rendered.locator("strong", has_text="ok")).to_be_visible()
    assert rendered.locator("img, script, [onerror]").count() == 0
    expect(rendered).to_contain_text("<script>window.pwned=2</script>")  # shown as text, as the ticket shows it
    assert page.evaluate("window.pwned") is None
    assert "javascript:" not in (rendered.locator("a").first.get_attribute("href") or "")
    assert browser.unexpected_problems() == []
