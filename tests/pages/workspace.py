"""The engineer workspace's page-test helpers: a session (on the simulator's ticket), a fix posted through the
API, and a message said in the conversation and answered by a real reply job."""
from __future__ import annotations

from typing import Any

from tests.pages.conftest import JOB_WAIT_MS, sync_api


def new_session(client: Any, tenant: Any, connection: dict[str, Any] | None, problem: str) -> str:
    body: dict[str, Any] = {"intake_content": {"problem": problem}}
    if connection:
        body.update(psa_connection_id=connection["id"], psa_ticket_id="48291")
    resp = client.post("/api/v1/ai-sessions", json=body, headers=tenant.h("engineer"))
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["id"])


def suggest_fix(client: Any, tenant: Any, session_id: str) -> dict[str, Any]:
    """A fix posted through the API, for tests about what follows a suggestion rather than the conversation."""
    resp = client.post(f"/api/v1/ai-sessions/{session_id}/suggested-fixes", headers=tenant.h("engineer"), json={
        "title": "Clear the cached Outlook credentials", "confidence_pct": 78,
        "description": "Outlook keeps a stale password in Windows Credential Manager after the reset.",
        "ai_drafted_script": 'cmdkey /list | Select-String "MicrosoftOffice" |\n'
                             '  ForEach-Object { cmdkey /delete:($_ -split "target=")[1] }'})
    assert resp.status_code == 201, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


# Records every text the pending reply shows (states pass too fast to catch with assertions one by one).
RECORD_PENDING = """window.__pending = [];
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="assistant-pending"]');
    const text = el ? el.textContent.trim() : null;
    if (el && window.__pending[window.__pending.length - 1] !== text) window.__pending.push(text);
  }).observe(document, {subtree: true, childList: true, characterData: true});"""


def say(page: Any, text: str) -> Any:
    """Send `text` in the conversation and wait for the assistant's answer; returns that message's locator."""
    expect = sync_api.expect
    answers = page.get_by_test_id("chat-message").and_(page.locator("[data-role=assistant]"))
    before = answers.count()
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("chat-message").filter(has_text=text)).to_have_attribute("data-role", "user")
    expect(answers).to_have_count(before + 1, timeout=JOB_WAIT_MS)  # a real reply job: the worker answers
    expect(page.get_by_test_id("assistant-pending")).to_have_count(0)
    return answers.nth(before)
