"""Helpers for the assistant tests: start a session, say something, wait for the reply."""
from __future__ import annotations

from typing import Any

from tests.helpers import wait_job


def new_session(client, tenant, problem: str = "The printer on floor 2 won't print", **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": problem}, **extra},
                    headers=tenant.h("engineer"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def post(client, tenant, session_id: str, content: str, role: str = "engineer", **headers: str):
    return client.post(f"/api/v1/ai-sessions/{session_id}/messages", json={"content": content},
                       headers=tenant.h(role, **headers))


def say(client, tenant, session_id: str, content: str, *, timeout: float = 20.0) -> dict[str, Any]:
    """Post a message and wait for its reply job; the finished job (result: message and effects)."""
    r = post(client, tenant, session_id, content)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["message"]["role"] == "user" and body["message"]["content"] == content.strip()
    assert body["job"]["kind"] == "assistant.reply" and body["message"]["job_id"] == body["job"]["id"]
    done = wait_job(client, tenant.h("engineer"), body["job"]["id"], timeout=timeout)
    assert done["status"] == "succeeded", done
    return done


def session_of(client, tenant, session_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/ai-sessions/{session_id}", headers=tenant.h("engineer"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def active_fix(client, tenant, session_id: str) -> dict[str, Any] | None:
    r = client.get(f"/api/v1/ai-sessions/{session_id}/suggested-fixes/active", headers=tenant.h("engineer"))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def transcript(client, tenant, session_id: str, **query: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1/ai-sessions/{session_id}/messages", query_string=query, headers=tenant.h("engineer"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()
