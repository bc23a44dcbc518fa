"""The conversation panel against the real messages API, the assistant's outcome proposal, the nudge banner and
the session status actions, in Chromium over the real stack.

The streaming test runs the Anthropic generator against the local stub (the real SDK over SSE), slowed down so
the reply's growth in the job's `progress.partial` is seen by the page; the others use the offline assistant.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.assistant.chat import say as say_api
from tests.pages.conftest import DESKTOP, JOB_WAIT_MS, shot, sign_in, sync_api
from tests.pages.workspace import RECORD_PENDING, new_session, say, suggest_fix

REPLY = ("Let me check the **credential cache** first. Outlook keeps the old password in Credential Manager "
         "after a reset, and it offers it again and again until the entry is removed.")


@pytest.mark.usefixtures("llm_worker")
def test_the_reply_grows_live_and_the_transcript_follows_the_api(live_url, browser, people, client, tenant,
                                                                  anthropic_stub):
    expect = sync_api.expect
    session_id = new_session(client, tenant, None, "Outlook keeps asking for a password")
    anthropic_stub.enqueue("ok", text=REPLY, chunk_delay_s=0.2)
    page = browser.page(DESKTOP)
    page.add_init_script(RECORD_PENDING)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/messages" in r.url and r.method == "GET" else None)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, people.emails["engineer"])

    expect(page.get_by_test_id("chat-input")).to_be_enabled()
    with page.expect_response(lambda r: r.url.endswith("/messages") and r.request.method == "POST") as posted:
        page.get_by_test_id("chat-input").fill("It started after the password reset")
        page.get_by_test_id("chat-input").press("Enter")
    mine = posted.value.json()["message"]
    expect(page.get_by_test_id("assistant-pending")).to_be_visible()
    expect(page.get_by_test_id("assistant-pending")).to_contain_text("Credential Manager", timeout=JOB_WAIT_MS)
    shot(page, "13-reply-growing", full_page=False)
    reply = page.get_by_test_id("chat-message").filter(has_text="credential cache")
    expect(reply).to_have_attribute("data-role", "assistant", timeout=JOB_WAIT_MS)
    expect(reply.locator("strong")).to_have_text("credential cache")  # the stored message, rendered markdown
    expect(page.get_by_test_id("assistant-pending")).to_have_count(0)

    # The page showed the reply growing: several partial texts, each a longer prefix of the reply.
    seen = [t.removesuffix("writing…").strip() for t in page.evaluate("window.__pending") if t and t != "Thinking…"]
    plain = REPLY.replace("*", "")  # the partial text is rendered as markdown too (an unclosed ** may show)
    assert len(seen) >= 3, seen
    assert all(plain.startswith(t.replace("*", "")) for t in seen), seen
    assert [len(t) for t in seen] == sorted(len(t) for t in seen), seen
    # After the reply it asked only for what came after the message it had (`after` = a message id).
    assert any(f"after={mine['id']}" in u for u in asked), asked
    shot(page, "13-conversation")

    # A reload rebuilds the same transcript from the API, oldest first.
    page.reload()
    expect(page.get_by_test_id("chat-message")).to_have_count(2)
    roles = page.get_by_test_id("chat-message").evaluate_all("els => els.map(e => e.dataset.role)")
    assert roles == ["user", "assistant"]
    assert browser.unexpected_problems() == []


def test_the_assistants_outcome_proposal_is_confirmed_in_one_click(live_url, browser, people, client, tenant,
                                                                   worker):
    expect = sync_api.expect
    session_id = new_session(client, tenant, None, "Outlook keeps asking for a password")
    for text in ("Since this morning", "Yes, the web version works", "Reset yesterday", "Only this laptop"):
        say_api(client, tenant, session_id, text)
    first = client.get(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/active", headers=tenant.h("engineer")).get_json()
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, people.emails["engineer"])
    expect(page.get_by_test_id("chat-message")).to_have_count(8)
    page.get_by_test_id("decision-one_off").click()
    expect(page.get_by_test_id("outcome-banner")).to_have_attribute("data-mode", "verifying")

    # The engineer tells the assistant; it proposes the outcome and never applies it by itself.
    say(page, "Ran it, still failing: the prompt is back after a restart")
    proposal = page.get_by_test_id("outcome-proposal")
    expect(proposal).to_contain_text("did not work")
    expect(page.get_by_test_id("fix-card")).to_have_attribute("data-status", "proposed")
    shot(page, "14-outcome-proposal")
    page.get_by_test_id("outcome-proposal-accept").click()
    expect(page.get_by_test_id("fix-card")).to_have_attribute("data-status", "applied_failed")
    expect(proposal).to_have_count(0)
    fix = client.get(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/active", headers=tenant.h("engineer")).get_json()
    assert fix["id"] == first["id"] and fix["ai_outcome_proposal"] is None
    assert "still failing" in fix["failure_reason"]

    # Asked what next, it suggests the playbook's other fix, which replaces the card.
    say(page, "What next?")
    card = page.get_by_test_id("fix-card")
    expect(card).to_have_attribute("data-status", "proposed")
    expect(page.get_by_test_id("fix-title")).to_have_text("Create a fresh Outlook profile")
    assert card.get_attribute("data-fix-id") != first["id"]
    assert browser.unexpected_problems() == []


def test_a_fix_acted_on_earlier_gets_the_nudge_and_the_status_actions_work(live_url, browser, people, client,
                                                                           tenant):
    expect = sync_api.expect
    session_id = new_session(client, tenant, None, "Mapped drive disappears after sleep")
    fix = suggest_fix(client, tenant, session_id)
    resp = client.post(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/{fix['id']}/decision",
                       json={"decision": "one_off"}, headers=tenant.h("engineer"))
    assert resp.status_code == 200
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, people.emails["engineer"])
    banner = page.get_by_test_id("outcome-banner")
    expect(banner).to_have_attribute("data-mode", "nudge")
    page.get_by_test_id("outcome-applied_pending").click()  # "Still checking"
    page.get_by_test_id("outcome-notes").fill("User is away until Monday")
    page.get_by_test_id("outcome-submit").click()
    expect(banner).to_have_attribute("data-mode", "pending")
    fixed = client.get(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/active", headers=tenant.h("engineer")).get_json()
    assert fixed["status"] == "applied_pending" and fixed["pending_reason"] == "User is away until Monday"

    # Pause and resume (active <-> paused); then request an escalation (from active or paused).
    status = page.get_by_test_id("session-status")
    page.get_by_test_id("session-pause").click()
    expect(status).to_have_text("paused")
    expect(page.get_by_test_id("session-pause")).to_have_count(0)
    assert session_of(client, tenant, session_id)["status"] == "paused"
    page.get_by_test_id("session-resume").click()
    expect(status).to_have_text("active")
    expect(page.get_by_test_id("session-resume")).to_have_count(0)

    # Another tab paused it meanwhile: the page's "Pause" is refused (409) and shows where the session is now.
    assert client.post(f"/api/v1/ai-sessions/{session_id}/pause", headers=tenant.h("engineer")).status_code == 200
    page.get_by_test_id("session-pause").click()
    expect(page.get_by_test_id("toast")).to_contain_text("the session is paused")
    expect(status).to_have_text("paused")

    page.get_by_test_id("session-request-escalation").click()
    expect(status).to_have_text("requesting_escalation")
    for action in ("session-pause", "session-resume", "session-request-escalation"):
        expect(page.get_by_test_id(action)).to_have_count(0)
    # The writeback's rules (the seeds'): a session waiting for escalation may still be resolved, not re-escalated.
    expect(page.get_by_test_id("preview-resolve")).to_be_visible()
    expect(page.get_by_test_id("preview-escalate")).to_have_count(0)
    assert session_of(client, tenant, session_id)["status"] == "requesting_escalation"
    page.reload()
    expect(status).to_have_text("requesting_escalation")
    assert [p for p in browser.unexpected_problems() if not re.search(r"409", p)] == []


def session_of(client: Any, tenant: Any, session_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/ai-sessions/{session_id}", headers=tenant.h("engineer")).get_json()
    return body
