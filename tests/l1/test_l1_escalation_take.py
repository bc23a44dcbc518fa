"""An engineer takes an escalated walk: POST /ai-sessions {"intake_type": "l1_escalation", "l1_session_id"}."""
from __future__ import annotations

import uuid

import pytest

from db.models import AiSession
from tests.assistant.chat import say
from tests.helpers import assert_problem, concurrently, count_rows
from tests.l1.flowdata import OUTLOOK_PROBLEM, start_walk, step


def escalated_walk(client, tenant) -> dict:
    walk = start_walk(client, tenant)
    assert step(client, tenant, walk["id"], "q1", "Yes").status_code == 200
    r = client.post(f"/api/v1/l1/sessions/{walk['id']}/notes", json={"text": "Prompt returns within a minute"},
                    headers=tenant.h("l1"))
    assert r.status_code in (200, 201), r.get_json()
    r = client.post(f"/api/v1/l1/sessions/{walk['id']}/escalate",
                    json={"reason": "Clearing credentials did not help", "reason_category": "needs_admin"},
                    headers=tenant.h("l1"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def take(client, tenant, walk_id: str, role: str = "engineer", **extra):
    return client.post("/api/v1/ai-sessions", json={"intake_type": "l1_escalation", "l1_session_id": walk_id, **extra},
                       headers=tenant.h(role))


def test_taking_a_walk_carries_its_problem_path_and_notes(client, tenant, published):
    walk = escalated_walk(client, tenant)
    r = take(client, tenant, walk["id"], intake_content={"engineer_note": "customer is a VIP"})
    assert r.status_code == 201, r.get_json()
    s = r.get_json()
    assert s["intake_type"] == "l1_escalation" and s["l1_session_id"] == walk["id"] and s["status"] == "active"
    intake = s["intake_content"]
    assert intake["problem"] == OUTLOOK_PROBLEM and intake["engineer_note"] == "customer is a VIP"
    carried = intake["l1_walk"]
    assert [(p["question"], p["answer"]) for p in carried["path"]] == [
        ("Does Outlook on the web accept the same password?", "Yes")]
    assert [n["text"] for n in carried["notes"]] == ["Prompt returns within a minute"]
    assert carried["escalation_reason"] == "Clearing credentials did not help" and carried["flow_title"]


def test_a_second_take_is_409_naming_the_session(client, tenant, published, engine):
    walk = escalated_walk(client, tenant)
    first = take(client, tenant, walk["id"]).get_json()
    body = assert_problem(take(client, tenant, walk["id"], role="admin"), 409, "l1_session_taken")
    assert body["session_id"] == first["id"] and first["id"] in body["detail"]
    assert count_rows(engine, AiSession) == 1


def test_concurrent_takes_make_one_session(app, tenant, published, engine):
    walk = escalated_walk(app.test_client(), tenant)

    def go(_: int):
        r = take(app.test_client(), tenant, walk["id"])
        return r.status_code, r.get_json()

    results = concurrently(4, go)
    assert sorted(code for code, _ in results) == [201, 409, 409, 409], results
    winner = next(b for code, b in results if code == 201)
    assert {b["session_id"] for code, b in results if code == 409} == {winner["id"]}
    assert count_rows(engine, AiSession) == 1


def test_only_escalated_walks_of_your_tenant_can_be_taken(client, tenant, other_tenant, published, engine):
    active = start_walk(client, tenant)
    body = assert_problem(take(client, tenant, active["id"]), 409, "l1_session_not_escalated")
    assert body["l1_session_status"] == "active"
    walk = escalated_walk(client, tenant)
    assert_problem(take(client, other_tenant, walk["id"]), 404, "l1_session_not_found")
    assert_problem(take(client, tenant, str(uuid.uuid4())), 404, "l1_session_not_found")
    assert_problem(take(client, tenant, walk["id"], role="l1"), 403, "forbidden")
    assert count_rows(engine, AiSession) == 0


@pytest.mark.parametrize("body", [{"intake_type": "l1_escalation"},
                                  {"intake_type": "free_text", "l1_session_id": str(uuid.uuid4())}])
def test_l1_session_id_goes_with_l1_escalation_only(client, tenant, body):
    r = client.post("/api/v1/ai-sessions", json=body, headers=tenant.h("engineer"))
    assert_problem(r, 422, "validation_failed")


def test_the_escalations_queue_shows_which_walks_were_taken(client, tenant, published):
    taken_walk, open_walk = escalated_walk(client, tenant), escalated_walk(client, tenant)
    s = take(client, tenant, taken_walk["id"]).get_json()
    items = {i["id"]: i for i in client.get("/api/v1/l1/escalations", headers=tenant.h("engineer")).get_json()["items"]}
    assert items[taken_walk["id"]]["taken_by_session_id"] == s["id"] and items[taken_walk["id"]]["taken_at"]
    engineer = client.get("/api/v1/me", headers=tenant.h("engineer")).get_json()
    assert items[taken_walk["id"]]["taken_by_email"] == engineer["email"]  # who took it
    assert items[open_walk["id"]]["taken_by_session_id"] is None and items[open_walk["id"]]["taken_at"] is None
    assert items[open_walk["id"]]["taken_by_email"] is None


def test_the_assistant_reads_the_walk(client, tenant, published, llm_worker, anthropic_stub):
    walk = escalated_walk(client, tenant)
    sid = take(client, tenant, walk["id"]).get_json()["id"]
    say(client, tenant, sid, "Picking this up from L1")
    session_block = anthropic_stub.requests[-1].body["system"][1]["text"]
    assert "escalated_l1_walk" in session_block and "Prompt returns within a minute" in session_block
    assert "Does Outlook on the web accept the same password?" in session_block
