"""Guided walks: step, notes, resolve, escalate; invalid steps (400); finished sessions (409); queues."""
from __future__ import annotations

import pytest

from tests.l1.flowdata import OUTLOOK_PROBLEM, start_walk, step


def url(session_id: str, tail: str = "") -> str:
    return f"/api/v1/l1/sessions/{session_id}{tail}"


def test_full_walk_to_resolve(client, tenant, published):
    s = start_walk(client, tenant)
    first = step(client, tenant, s["id"], "q1", "Yes")
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["current_node_id"] == "q2" and first.get_json()["last_step_at"]
    second = step(client, tenant, s["id"], "q2", " yes ", next_node_id="fix", note="cleared 3 entries").get_json()
    assert second["current_node_id"] == "fix" and second["next_action"] == "resolve"
    assert [(e["node_id"], e["answer"], e["next_node_id"]) for e in second["walked_path"]] == [("q1", "Yes", "q2"), ("q2", "Yes", "fix")]
    assert second["walked_path"][1]["question"].startswith("Does removing") and second["walked_path"][1]["note"] == "cleared 3 entries"
    assert [n["text"] for n in second["walk_notes"]] == ["cleared 3 entries"]
    done = client.post(url(s["id"], "/resolve"), json={"helpful": True, "resolution_notes": "Prompts stopped"},
                       headers=tenant.h("l1")).get_json()
    assert done["status"] == "resolved" and done["helpful"] is True and done["resolution_notes"] == "Prompts stopped"
    assert done["resolved_at"] and done["next_action"] == "none" and done["ticket"]["status"] == "resolved"
    assert client.get(url(s["id"]), headers=tenant.h("l1")).get_json() == done


def test_full_walk_to_escalate_reaches_the_engineers_queue(client, tenant, published):
    s = start_walk(client, tenant)
    client.post(url(s["id"], "/notes"), json={"text": "Customer says it started after the password change"},
                headers=tenant.h("l1"))
    walked = step(client, tenant, s["id"], "q1", "No").get_json()
    assert walked["current_node"]["type"] == "escalate" and walked["next_action"] == "escalate"
    done = client.post(url(s["id"], "/escalate"), json={"reason": "Web sign-in fails too", "reason_category": "Account"},
                       headers=tenant.h("l1")).get_json()
    assert done["status"] == "escalated" and done["escalated_at"] and done["escalation_reason_category"] == "account"
    queue = client.get("/api/v1/l1/escalations", headers=tenant.h("engineer")).get_json()["items"]
    assert [e["id"] for e in queue] == [s["id"]]
    item = queue[0]
    assert [p["answer"] for p in item["walked_path"]] == ["No"]
    assert item["walk_notes"][0]["text"].startswith("Customer says") and item["walk_notes"][0]["node_id"] == "q1"
    assert item["escalation_reason"] == "Web sign-in fails too" and item["ticket"]["problem_statement"] == OUTLOOK_PROBLEM
    assert item["flow_title"] == published["outlook"]["title"]


@pytest.mark.parametrize(("node_id", "answer", "extra", "code", "field"), [
    ("nope", "Yes", {}, "unknown_node", "node_id"),
    ("q2", "Yes", {}, "not_current_node", "node_id"),
    ("q1", "Maybe", {}, "invalid_answer", "answer"),
    ("q1", "Yes", {"next_node_id": "fix"}, "answer_target_mismatch", "next_node_id"),
])
def test_invalid_steps_are_400(client, tenant, published, node_id, answer, extra, code, field):
    s = start_walk(client, tenant)
    resp = step(client, tenant, s["id"], node_id, answer, **extra)
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == code and resp.get_json()["errors"][0]["field"] == field
    after = client.get(url(s["id"]), headers=tenant.h("l1")).get_json()
    assert after["walked_path"] == [] and after["current_node_id"] == "q1"


def test_nodes_of_another_flow_and_terminal_nodes_are_400(client, tenant, published):
    s = start_walk(client, tenant)
    assert step(client, tenant, s["id"], "v1", "Both").get_json()["code"] == "unknown_node"  # the VPN flow's node
    step(client, tenant, s["id"], "q1", "No")
    resp = step(client, tenant, s["id"], "esc_account", "Yes")
    assert resp.status_code == 400 and resp.get_json()["code"] == "terminal_node"


def test_step_body_validation_is_422(client, tenant, published):
    s = start_walk(client, tenant)
    for body in ({"node_id": "q1"}, {"node_id": "q1", "answer": ""}, {"node_id": "q1", "answer": "Yes", "question": "?"}):
        assert client.post(url(s["id"], "/step"), json=body, headers=tenant.h("l1")).status_code == 422


def test_notes(client, tenant, published):
    s = start_walk(client, tenant)
    one = client.post(url(s["id"], "/notes"), json={"text": "  Rebooted once  "}, headers=tenant.h("l1")).get_json()
    two = client.post(url(s["id"], "/notes"), json={"text": "Still prompts"}, headers=tenant.h("engineer")).get_json()
    assert [n["text"] for n in two["walk_notes"]] == ["Rebooted once", "Still prompts"]
    assert one["walk_notes"][0]["by"] != two["walk_notes"][1]["by"] and two["walk_notes"][1]["node_id"] == "q1"
    for bad in ({}, {"text": " "}, {"text": "x" * 4001}):
        assert client.post(url(s["id"], "/notes"), json=bad, headers=tenant.h("l1")).status_code == 422


@pytest.mark.parametrize("finish", ["resolve", "escalate"])
def test_finished_sessions_reject_everything_with_409(client, tenant, published, finish):
    s = start_walk(client, tenant)
    assert client.post(url(s["id"], f"/{finish}"), json={}, headers=tenant.h("l1")).status_code == 200
    attempts = [
        step(client, tenant, s["id"], "q1", "Yes"),
        client.post(url(s["id"], "/notes"), json={"text": "late"}, headers=tenant.h("l1")),
        client.post(url(s["id"], "/resolve"), json={"helpful": False}, headers=tenant.h("l1")),
        client.post(url(s["id"], "/escalate"), json={"reason": "again"}, headers=tenant.h("l1")),
        client.post(url(s["id"], "/next-node"), json={}, headers=tenant.h("l1")),
    ]
    for resp in attempts:
        assert resp.status_code == 409 and resp.get_json()["code"] == "session_finished", resp.get_json()
        assert resp.get_json()["session_status"] == ("resolved" if finish == "resolve" else "escalated")


def test_sessions_are_account_scoped_not_creator_scoped(client, tenant, published):
    s = start_walk(client, tenant, role="l1")
    assert step(client, tenant, s["id"], "q1", "Yes", role="engineer").status_code == 200
    assert client.post(url(s["id"], "/resolve"), json={"helpful": True}, headers=tenant.h("owner")).status_code == 200


def test_escalate_without_walk(client, tenant):
    resp = client.post("/api/v1/l1/escalate-without-walk",
                       json={"problem_statement": "Server room is on fire", "customer_name": "Acme",
                             "reason": "Not an L1 matter", "reason_category": "urgent"}, headers=tenant.h("l1"))
    assert resp.status_code == 201, resp.get_json()
    s = resp.get_json()
    assert s["session_kind"] == "escalate_without_walk" and s["status"] == "escalated" and s["walked_path"] == []
    assert s["escalated_at"] and s["ticket"]["status"] == "escalated" and s["ticket"]["customer_name"] == "Acme"
    assert step(client, tenant, s["id"], "x", "y").status_code == 409
    queue = client.get("/api/v1/l1/escalations", headers=tenant.h("admin")).get_json()["items"]
    assert queue[0]["id"] == s["id"] and queue[0]["escalation_reason_category"] == "urgent"
    for bad in ({"reason": "x"}, {"problem_statement": "x", "reason_category": "not ok!"}):
        assert client.post("/api/v1/l1/escalate-without-walk", json=bad, headers=tenant.h("l1")).status_code == 422


def test_active_sessions_are_the_callers_newest_first_and_bounded(client, tenant, published):
    mine = [start_walk(client, tenant)["id"] for _ in range(3)]
    start_walk(client, tenant, role="engineer")  # someone else's
    client.post(url(mine[0], "/resolve"), json={}, headers=tenant.h("l1"))  # no longer active
    items = client.get("/api/v1/l1/sessions/active", headers=tenant.h("l1")).get_json()["items"]
    assert [i["id"] for i in items] == [mine[2], mine[1]]
    assert len(client.get("/api/v1/l1/sessions/active?limit=1", headers=tenant.h("l1")).get_json()["items"]) == 1
    for bad in ("0", "51", "x"):
        assert client.get(f"/api/v1/l1/sessions/active?limit={bad}", headers=tenant.h("l1")).status_code == 422


def test_queue_lists_tickets_with_status_filter_and_bounded_limit(client, tenant, published):
    first = start_walk(client, tenant)
    second = start_walk(client, tenant)
    client.post(url(first["id"], "/resolve"), json={}, headers=tenant.h("l1"))
    rows = client.get("/api/v1/l1/queue", headers=tenant.h("l1")).get_json()
    assert [r["session_id"] for r in rows["items"]] == [second["id"], first["id"]] and rows["next_cursor"] is None
    assert rows["items"][0]["problem_statement"] == OUTLOOK_PROBLEM and rows["items"][0]["ticket_kind"] == "internal"
    resolved = client.get("/api/v1/l1/queue?status=resolved", headers=tenant.h("engineer")).get_json()["items"]
    assert [(r["ticket_id"], r["status"], r["session_status"]) for r in resolved] == [(first["ticket_id"], "resolved", "resolved")]
    page = client.get("/api/v1/l1/queue?limit=1", headers=tenant.h("l1")).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(f"/api/v1/l1/queue?limit=1&cursor={page['next_cursor']}", headers=tenant.h("l1")).get_json()
    assert [r["session_id"] for r in rest["items"]] == [first["id"]]
    for bad in ("limit=0", "limit=201", "status=closed", "cursor=garbage"):
        assert client.get(f"/api/v1/l1/queue?{bad}", headers=tenant.h("l1")).status_code == 422, bad


def test_escalations_queue_newest_first_paginated_and_for_engineers(client, tenant, published):
    ids = []
    for _ in range(3):
        s = start_walk(client, tenant)
        client.post(url(s["id"], "/escalate"), json={"reason": "r"}, headers=tenant.h("l1"))
        ids.append(s["id"])
    start_walk(client, tenant)  # active: not in the queue
    page = client.get("/api/v1/l1/escalations?limit=2", headers=tenant.h("engineer")).get_json()
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]] and page["next_cursor"]
    rest = client.get(f"/api/v1/l1/escalations?limit=2&cursor={page['next_cursor']}", headers=tenant.h("engineer")).get_json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert client.get("/api/v1/l1/escalations", headers=tenant.h("l1")).status_code == 403
    assert client.get("/api/v1/l1/escalations?limit=500", headers=tenant.h("admin")).status_code == 422


def test_active_sessions_are_ordered_by_last_touch(client, tenant, published):
    """Resume in progress: the walk the technician last stepped (or noted) comes first, not the newest."""
    older, newer = (start_walk(client, tenant)["id"] for _ in range(2))
    ids = [i["id"] for i in client.get("/api/v1/l1/sessions/active", headers=tenant.h("l1")).get_json()["items"]]
    assert ids == [newer, older]
    assert step(client, tenant, older, "q1", "Yes").status_code == 200
    ids = [i["id"] for i in client.get("/api/v1/l1/sessions/active", headers=tenant.h("l1")).get_json()["items"]]
    assert ids == [older, newer]
    assert client.post(url(newer, "/notes"), json={"text": "customer called back"}, headers=tenant.h("l1")).status_code == 200
    ids = [i["id"] for i in client.get("/api/v1/l1/sessions/active", headers=tenant.h("l1")).get_json()["items"]]
    assert ids == [newer, older]
