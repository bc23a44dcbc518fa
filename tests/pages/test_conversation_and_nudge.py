"""The conversation panel against the messages API as API.md describes it, and the nudge banner.

The assistant's API is built on another branch and is not on this server: here the browser's own network
layer answers those few routes (Playwright `page.route`), speaking the contract's wire format — POST
messages → 202 {message, job}, the reply job's progress.partial growing, GET messages?after= — so the panel's
handling is proven now and only the real endpoint remains to meet. Everything else is the real stack.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.pages.conftest import DESKTOP, new_session, shot, sign_in, suggest_fix, sync_api


class FakeAssistant:
    """The assistant's endpoints, answered inside the browser's network layer."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.messages: list[dict[str, Any]] = []
        self.job_id = str(uuid.uuid4())
        self.polls = 0
        self.afters: list[str | None] = []
        self.partials = ["Let me", "Let me check the", "Let me check the credential cache first."]

    def job(self) -> dict[str, Any]:
        n = self.polls
        self.polls += 1
        done = n >= len(self.partials)
        return {"id": self.job_id, "kind": "assistant.reply", "status": "succeeded" if done else "running",
                "attempts": 1, "max_attempts": 5, "progress": None if done else {"partial": self.partials[n]},
                "result": {"message_id": "m2", "fact_ids": []} if done else None, "error": None,
                "session_id": self.session_id, "batch_id": None, "created_at": "2026-12-02T10:00:00Z",
                "started_at": "2026-12-02T10:00:00Z", "finished_at": None, "next_attempt_at": None}

    def handle(self, route: Any) -> None:
        req = route.request
        if "/messages" in req.url and req.method == "POST":
            content = json.loads(req.post_data)["content"]
            message = {"id": "m1", "role": "user", "content": content, "created_at": "2026-12-02T10:00:00Z"}
            self.messages.append(message)
            route.fulfill(status=202, content_type="application/json",
                          body=json.dumps({"message": message, "job": self.job()}))
        elif "/messages" in req.url:
            after = re.search(r"[?&]after=([^&]+)", req.url)
            self.afters.append(after.group(1) if after else None)
            if self.polls > len(self.partials) and not any(m["id"] == "m2" for m in self.messages):
                self.messages.append({"id": "m2", "role": "assistant", "job_id": self.job_id,
                                      "content": "Let me check the **credential cache** first.",
                                      "created_at": "2026-12-02T10:00:05Z"})
            ids = [m["id"] for m in self.messages]
            start = ids.index(after.group(1)) + 1 if after and after.group(1) in ids else 0
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps({"items": self.messages[start:], "next_cursor": None}))
        else:  # the reply job
            body = json.dumps(self.job())
            route.fulfill(status=200, content_type="application/json", body=body,
                          headers={"ETag": f'"fake-{self.polls}"'})


def test_conversation_panel_streams_the_reply(live_url, browser, people, client, tenant):
    expect = sync_api.expect
    session_id = new_session(client, tenant, None, "Outlook keeps asking for a password")
    fake = FakeAssistant(session_id)
    page = browser.page(DESKTOP)
    # Record what the pending reply shows over time (the states pass too fast to catch with assertions).
    page.add_init_script("""window.__seen = [];
      new MutationObserver(() => {
        const el = document.querySelector('[data-testid="assistant-pending"]');
        if (el && window.__seen[window.__seen.length - 1] !== el.textContent) window.__seen.push(el.textContent);
      }).observe(document, {subtree: true, childList: true, characterData: true});""")
    page.route(re.compile(r".*/api/v1/ai-sessions/[^/]+/messages.*"), fake.handle)
    page.route(re.compile(rf".*/api/v1/jobs/{fake.job_id}.*"), fake.handle)
    page.goto(f"{live_url}/app/sessions/{session_id}")
    sign_in(page, people.emails["engineer"])

    expect(page.get_by_test_id("chat-input")).to_be_enabled()
    page.get_by_test_id("chat-input").fill("It started after the password reset")
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("chat-message").filter(has_text="after the password reset")).to_have_attribute(
        "data-role", "user")
    reply = page.get_by_test_id("chat-message").filter(has_text="credential cache")
    expect(reply).to_have_attribute("data-role", "assistant")
    expect(reply.locator("strong")).to_have_text("credential cache")  # rendered markdown
    expect(page.get_by_test_id("assistant-pending")).to_have_count(0)
    assert fake.polls > len(fake.partials)  # every partial state was fetched before the end
    seen = [t.strip() for t in page.evaluate("window.__seen")]
    assert "Let me check the" in seen and "Let me check the credential cache first." in seen, seen
    assert fake.afters[-1] == "m1"  # only the messages after the last one we had
    shot(page, "13-conversation")
    assert browser.unexpected_problems() == []


@pytest.mark.xfail(reason="written before the assistant landed; reworked for the real session status actions", strict=False)
def test_a_fix_acted_on_earlier_gets_the_nudge(live_url, browser, people, client, tenant):
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
    # Session status actions this server does not have yet say so instead of failing.
    page.get_by_test_id("session-pause").click()
    expect(page.get_by_test_id("toast")).to_contain_text("not available on this server yet")
    expect(page.get_by_test_id("session-status")).to_have_text("active")
