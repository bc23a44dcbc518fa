"""AI build: l1.next_node jobs through the real worker, with the offline generator."""
from __future__ import annotations

import pytest

from tests.helpers import wait_job
from tests.l1.flowdata import HARDWARE_PROBLEM, intake, start_walk, step

pytestmark = pytest.mark.usefixtures("worker")


def build_session(client, tenant) -> dict:
    body = intake(client, tenant, HARDWARE_PROBLEM, expect=201)
    assert body["outcome"] == "build", body
    return body["session"]


def next_node(client, tenant, session_id: str, role: str = "l1", **headers: str) -> dict:
    resp = client.post(f"/api/v1/l1/sessions/{session_id}/next-node", json={}, headers=tenant.h(role, **headers))
    assert resp.status_code == 202, resp.get_json()
    job = resp.get_json()["job"]
    assert job["kind"] == "l1.next_node"
    done = wait_job(client, tenant.h(role), job["id"])
    assert done["status"] == "succeeded", done
    return done["result"]


def test_ai_walk_with_the_offline_generator_to_resolve(client, tenant, published):
    s = build_session(client, tenant)
    first = next_node(client, tenant, s["id"])
    assert first["applied"] is True and first["generator"] == "offline"
    node = first["node"]
    assert node["id"] == "ai-1" and node["text"] == "Are all cables and power connections firmly seated?"
    assert {a["leads_to"] for a in node["answers"]} <= {"next", "resolve", "escalate"}
    session = client.get(f"/api/v1/l1/sessions/{s['id']}", headers=tenant.h("l1")).get_json()
    assert session["current_node"] == node and session["next_action"] == "answer"
    assert session["flow_proposal"]["nodes"] == [node]

    after = step(client, tenant, s["id"], "ai-1", "Yes").get_json()  # leads to another question
    assert after["current_node_id"] is None and after["next_action"] == "generate"
    assert after["walked_path"] == [{**after["walked_path"][0], "node_id": "ai-1", "node_type": "ai_question",
                                     "question": node["text"], "answer": "Yes", "leads_to": "next"}]
    second = next_node(client, tenant, s["id"])["node"]
    assert second["id"] == "ai-2" and second["text"] != node["text"]  # never asks twice
    step(client, tenant, s["id"], "ai-2", "Yes")
    third = next_node(client, tenant, s["id"])["node"]
    resolving = next(a["label"] for a in third["answers"] if a["leads_to"] == "resolve")
    ended = step(client, tenant, s["id"], "ai-3", resolving).get_json()
    assert ended["next_action"] == "resolve"
    refused = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={}, headers=tenant.h("l1"))
    assert refused.status_code == 409 and refused.get_json()["code"] == "walk_concluded"
    done = client.post(f"/api/v1/l1/sessions/{s['id']}/resolve", json={"helpful": True}, headers=tenant.h("l1")).get_json()
    assert done["status"] == "resolved" and [p["node_id"] for p in done["walked_path"]] == ["ai-1", "ai-2", "ai-3"]


def test_offline_generator_is_deterministic(client, tenant, published):
    one, two = build_session(client, tenant), build_session(client, tenant)
    assert next_node(client, tenant, one["id"])["node"] == next_node(client, tenant, two["id"])["node"]


def test_ai_walk_to_escalate(client, tenant, published):
    s = build_session(client, tenant)
    next_node(client, tenant, s["id"])
    step(client, tenant, s["id"], "ai-1", "Yes")
    node = next_node(client, tenant, s["id"])["node"]
    escalating = next(a["label"] for a in node["answers"] if a["leads_to"] == "escalate")
    assert step(client, tenant, s["id"], "ai-2", escalating).get_json()["next_action"] == "escalate"
    done = client.post(f"/api/v1/l1/sessions/{s['id']}/escalate", json={"reason": "Faulty dock"},
                       headers=tenant.h("l1")).get_json()
    assert done["status"] == "escalated"
    queued = client.get("/api/v1/l1/escalations", headers=tenant.h("engineer")).get_json()["items"][0]
    assert queued["id"] == s["id"] and [p["answer"] for p in queued["walked_path"]] == ["Yes", escalating]


def test_pending_node_and_bad_answers(client, tenant, published):
    s = build_session(client, tenant)
    next_node(client, tenant, s["id"])
    pending = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={}, headers=tenant.h("l1"))
    assert pending.status_code == 409 and pending.get_json()["code"] == "node_pending"
    assert step(client, tenant, s["id"], "ai-1", "Perhaps").get_json()["code"] == "invalid_answer"
    assert step(client, tenant, s["id"], "ai-9", "Yes").get_json()["code"] == "unknown_node"


def test_step_before_any_node_is_400(client, tenant, published):
    s = build_session(client, tenant)
    resp = step(client, tenant, s["id"], "ai-1", "Yes")
    assert resp.status_code == 400 and resp.get_json()["code"] == "unknown_node"


def test_next_node_needs_an_ai_build_session(client, tenant, published):
    s = start_walk(client, tenant)
    resp = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={}, headers=tenant.h("l1"))
    assert resp.status_code == 400 and resp.get_json()["code"] == "not_ai_build"


def test_idempotency_key_replays_the_same_job(client, tenant, published):
    s = build_session(client, tenant)
    h = tenant.h("l1", **{"Idempotency-Key": "nn-1"})
    first = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={}, headers=h).get_json()["job"]
    again = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={}, headers=h).get_json()["job"]
    assert first["id"] == again["id"]
    other = client.post(f"/api/v1/l1/sessions/{s['id']}/next-node", json={"observation": "x"}, headers=h)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert wait_job(client, tenant.h("l1"), first["id"])["status"] == "succeeded"
