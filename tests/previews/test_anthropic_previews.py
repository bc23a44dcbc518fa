"""Previews and template extraction through the real anthropic SDK, against the local stub server."""
from __future__ import annotations

import json
import time

import pytest

from tests.helpers import concurrently, wait_job
from tests.previews.test_preview_pipeline import ESC_HEADINGS, set_fix

pytestmark = pytest.mark.usefixtures("llm_worker")


@pytest.fixture
def session(client, tenant):
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "VPN drops every 10 minutes"}},
                    headers=tenant.h("engineer")).get_json()
    client.post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": "MTU is 1500 on the tunnel"}, headers=tenant.h("engineer"))
    return s


def start(client, tenant, session, kind="resolution-note"):
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/{kind}/preview", headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return r.get_json()["job"]["id"]


def prompt_of(request) -> dict:
    user = request.body["messages"][0]["content"]
    text = user if isinstance(user, str) else user[0]["text"]
    return json.loads(text.split("Session data (JSON):\n", 1)[1])


def test_escalation_package_via_sdk_has_five_sections_and_usage(client, tenant, session, anthropic_stub):
    done = wait_job(client, tenant.h("engineer"), start(client, tenant, session, "escalation-package"))
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["generator"] == "anthropic" and result["model"] and result["usage"]["output_tokens"] > 0
    positions = [result["markdown"].index(h) for h in ESC_HEADINGS]
    assert positions == sorted(positions) and result["markdown"].count("\n## ") == 4
    request = anthropic_stub.requests[-1]
    schema = request.body["output_config"]["format"]["schema"]
    assert schema["required"] == ["problem", "confirmed", "tried", "hypothesis", "next_steps"]
    system = request.body["system"]  # a string, or content blocks
    system_text = system if isinstance(system, str) else "".join(block["text"] for block in system)
    assert "applied_pending" in system_text  # the outcome rules are in the system prompt
    assert prompt_of(request)["facts"] == ["MTU is 1500 on the tunnel"]


@pytest.mark.parametrize(("outcome", "notes"), [("applied_success", None), ("applied_failed", "still drops"),
                                                  ("applied_partial", "only on Wi-Fi"), ("applied_pending", "waiting on ISP")])
def test_bundle_carries_outcome_fields(client, tenant, session, anthropic_stub, outcome, notes):
    set_fix(client, tenant, session, outcome, notes)
    assert wait_job(client, tenant.h("engineer"), start(client, tenant, session))["status"] == "succeeded"
    fix = prompt_of(anthropic_stub.requests[-1])["fix"]
    assert fix["status"] == outcome and fix["applied_at"] and fix["script"] == "cmdkey /delete:MicrosoftOffice16"
    if outcome in ("applied_success", "applied_failed"):  # terminal outcomes are verified...
        assert fix["verified_at"], fix
    else:  # ...partial and pending ones are not
        assert fix["verified_at"] is None, fix
    field = {"applied_failed": "failure_reason", "applied_partial": "partial_notes", "applied_pending": "pending_reason"}.get(outcome)
    if field:
        assert fix[field] == notes


def test_concurrent_identical_requests_make_one_llm_call(app, tenant, session, anthropic_stub):
    anthropic_stub.delay_s = 0.5

    def go(_: int):
        r = app.test_client().post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/preview", headers=tenant.h("engineer"))
        return r.status_code, r.get_json()

    results = concurrently(5, go)
    assert [s for s, _ in results] == [202] * 5, results
    ids = {b["job"]["id"] for _, b in results}
    assert len(ids) == 1
    assert wait_job(app.test_client(), tenant.h("engineer"), ids.pop())["status"] == "succeeded"
    assert anthropic_stub.calls == 1
    cached = app.test_client().post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/preview", headers=tenant.h("engineer"))
    assert cached.status_code == 200 and anthropic_stub.calls == 1  # answered from the database


def test_overloaded_then_success_retries(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("overloaded", retry_after="1")
    job_id = start(client, tenant, session)
    retrying = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    assert retrying["error"]["code"] == "llm_overloaded"
    done = wait_job(client, tenant.h("engineer"), job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 2 and anthropic_stub.calls == 2


def test_rate_limited_honours_retry_after(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("rate_limited", retry_after="2")
    job_id = start(client, tenant, session)
    t0 = time.monotonic()
    retrying = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    assert retrying["error"]["code"] == "llm_rate_limited"
    done = wait_job(client, tenant.h("engineer"), job_id)
    assert done["status"] == "succeeded" and time.monotonic() - t0 >= 1.8


@pytest.mark.parametrize(("kind", "code"), [("bad_request", "llm_bad_request"), ("max_tokens", "llm_output_truncated")])
def test_permanent_llm_failures_fail_once(client, tenant, session, anthropic_stub, kind, code):
    anthropic_stub.enqueue(kind)
    done = wait_job(client, tenant.h("engineer"), start(client, tenant, session))
    assert done["status"] == "failed" and done["error"]["code"] == code and done["attempts"] == 1
    assert anthropic_stub.calls == 1


def test_template_extract_via_sdk(client, tenant, session, anthropic_stub):
    fix = client.post(f"/api/v1/ai-sessions/{session['id']}/suggested-fixes",
                      json={"title": "Lower the MTU", "description": "d", "confidence_pct": 70,
                            "ai_drafted_script": "netsh interface ipv4 set subinterface VPN mtu=1400"},
                      headers=tenant.h("engineer")).get_json()
    anthropic_stub.enqueue("ok", data={"templated_body": "netsh interface ipv4 set subinterface {{interface}} mtu={{mtu}}",
                                       "parameters": [{"name": "interface", "kind": "name", "description": "Adapter", "default": "VPN"},
                                                      {"name": "mtu", "kind": "int", "description": "MTU", "default": "1400"}]})
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/suggested-fixes/{fix['id']}/decision",
                    json={"decision": "draft_template"}, headers=tenant.h("engineer"))
    done = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])
    assert done["status"] == "succeeded" and done["result"]["generator"] == "anthropic"
    assert [p["name"] for p in done["result"]["parameters"]] == ["interface", "mtu"]
    user = anthropic_stub.requests[-1].body["messages"][0]["content"]
    assert "MTU is 1500 on the tunnel" in str(user) and "mtu=1400" in str(user)
