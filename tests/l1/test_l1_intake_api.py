"""POST /l1/intake: each outcome (matched, suggest, out_of_scope, build), explained by score and terms."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import L1InternalTicket, L1WalkSession
from tests.l1.flowdata import HARDWARE_PROBLEM, OUTLOOK_PROBLEM, create_flow, flow, intake, put_category


def counts(engine) -> tuple[int, int]:
    with transaction(engine, SYSTEM) as db:
        return (db.execute(select(func.count()).select_from(L1InternalTicket)).scalar_one(),
                db.execute(select(func.count()).select_from(L1WalkSession)).scalar_one())


def test_matched_starts_a_flow_session_with_score_and_terms(client, tenant, published):
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=201, customer_name="Dana", customer_contact="dana@example.test")
    assert body["outcome"] == "matched" and body["category"] == "email"
    match = body["match"]
    assert match["flow_id"] == published["outlook"]["id"] and match["title"] == published["outlook"]["title"]
    assert match["score"] >= body["thresholds"]["match"] == 0.7
    assert match["matched_terms"] == ["asking", "outlook", "password"]  # all title words, ties by term
    assert {c["field"] for c in match["contributions"]} == {"title"}
    assert body["flow_id"] == match["flow_id"] and body["session_kind"] == "flow" and body["ticket_kind"] == "internal"
    session = body["session"]
    assert session["id"] == body["session_id"] and session["status"] == "active"
    assert session["current_node_id"] == "q1" and session["current_node"]["type"] == "question"
    assert session["next_action"] == "answer" and session["walked_path"] == []
    assert session["ticket"]["customer_name"] == "Dana" and session["ticket"]["status"] == "in_progress"
    assert session["flow_title"] == published["outlook"]["title"]


def test_matching_is_deterministic(client, tenant, published):
    first = intake(client, tenant, OUTLOOK_PROBLEM, expect=201)
    second = intake(client, tenant, OUTLOOK_PROBLEM, expect=201)
    assert first["match"] == second["match"] and first["candidates"] == second["candidates"]


def test_near_miss_is_suggested_without_a_session(client, tenant, published, engine):
    body = intake(client, tenant, "Outlook crashes when I open an attachment", expect=200)
    assert body["outcome"] == "suggest" and body["category"] == "email"
    near = body["near_miss"]
    assert near["flow_id"] == published["outlook"]["id"] and "outlook" in near["matched_terms"]
    assert body["thresholds"]["suggest"] <= near["score"] < body["thresholds"]["match"]
    assert body["session"] is None and body["session_id"] is None and body["ticket_id"] is None
    assert counts(engine) == (0, 0)


def test_disabled_category_is_out_of_scope(client, tenant, published, engine):
    put_category(client, tenant, "printing", enabled=False)
    body = intake(client, tenant, "The printer is not printing anything", expect=200)
    assert body["outcome"] == "out_of_scope" and body["reason"] == "category_disabled"
    assert body["category"] == "printing" and body["category_enabled"] is False
    assert "printer" in body["category_match"]["matched_terms"]
    assert body["match"] is None and body["session"] is None
    assert counts(engine) == (0, 0)
    put_category(client, tenant, "printing", enabled=True)  # re-enabled: the flow matches again
    assert intake(client, tenant, "The printer is not printing, the print queue is stuck", expect=201)["outcome"] == "matched"


def test_unknown_category_is_out_of_scope(client, tenant, published, engine):
    body = intake(client, tenant, "The coffee machine in the kitchen leaks water", expect=200)
    assert body["outcome"] == "out_of_scope" and body["reason"] == "category_unknown"
    assert body["category"] is None and body["session"] is None
    assert counts(engine) == (0, 0)


def test_no_flow_in_an_enabled_category_builds(client, tenant, published, engine):
    body = intake(client, tenant, HARDWARE_PROBLEM, expect=201)
    assert body["outcome"] == "build" and body["category"] == "hardware" and body["match"] is None
    assert set(body["category_match"]["matched_terms"]) == {"monitor", "docking"}
    session = body["session"]
    assert session["session_kind"] == "ai_build" and session["category"] == "hardware"
    assert session["walked_path"] == [] and session["current_node"] is None and session["next_action"] == "generate"
    assert body["flow_id"] is None and body["ticket_id"] == session["ticket_id"]
    with transaction(engine, SYSTEM) as db:  # the category rides in a hidden meta entry
        row = db.get(L1WalkSession, uuid.UUID(session["id"]))
        assert row.walked_path == [{"node_type": "meta", "category": "hardware"}]


def test_force_build_skips_matching(client, tenant, published):
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=201, force_build=True)
    assert body["outcome"] == "build" and body["category"] == "email"
    assert body["session"]["session_kind"] == "ai_build" and body["match"] is None
    assert body["candidates"][0]["flow_id"] == published["outlook"]["id"]  # still explained


def test_force_build_still_respects_a_disabled_category(client, tenant, published):
    put_category(client, tenant, "email", enabled=False)
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=200, force_build=True)
    assert body["outcome"] == "out_of_scope" and body["reason"] == "category_disabled"


def test_draft_flows_never_match(client, tenant):
    from tests.l1.flowdata import create_flow, flow

    create_flow(client, tenant, flow("outlook"), publish=False)
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=200)
    assert body["outcome"] == "out_of_scope" and body["reason"] == "category_unknown"  # drafts teach nothing
    put_category(client, tenant, "email", keywords=["outlook"])
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=201)
    assert body["outcome"] == "build" and body["match"] is None and body["candidates"] == []


def test_engineer_covering_may_run_intake(client, tenant, published):
    assert intake(client, tenant, OUTLOOK_PROBLEM, role="engineer", expect=201)["outcome"] == "matched"


def test_intake_validation(client, tenant, published, engine):
    for body in ({}, {"problem_statement": "   "}, {"problem_statement": "x" * 4001},
                 {"problem_statement": "ok", "force_build": "maybe"}, {"problem_statement": "ok", "extra": 1}):
        resp = client.post("/api/v1/l1/intake", json=body, headers=tenant.h("l1"))
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
        assert resp.get_json()["code"] == "validation_failed" and resp.get_json()["errors"]
    assert counts(engine) == (0, 0)


def test_the_suggested_flow_can_be_taken_by_its_id(client, tenant, published, engine):
    problem = "Outlook crashes when I open an attachment"
    near = intake(client, tenant, problem, expect=200)["near_miss"]
    body = intake(client, tenant, problem, expect=201, flow_id=near["flow_id"], customer_name="Dana")
    assert body["outcome"] == "matched" and body["reason"] == "chosen" and body["flow_id"] == near["flow_id"]
    assert body["match"]["flow_id"] == near["flow_id"] and body["match"]["score"] == near["score"]
    assert body["session"]["current_node_id"] == "q1" and body["session"]["ticket"]["customer_name"] == "Dana"
    assert counts(engine) == (1, 1)


def test_a_chosen_flow_must_be_published_in_an_enabled_category(client, tenant, published, engine):
    draft = create_flow(client, tenant, flow("vpn", title="VPN draft"), publish=False)
    for flow_id in (draft["id"], str(uuid.uuid4())):
        r = client.post("/api/v1/l1/intake", json={"problem_statement": "VPN drops", "flow_id": flow_id},
                        headers=tenant.h("l1"))
        assert r.status_code == 404 and r.get_json()["code"] == "flow_not_found"
    put_category(client, tenant, "email", enabled=False)
    r = client.post("/api/v1/l1/intake", json={"problem_statement": OUTLOOK_PROBLEM,
                                                "flow_id": published["outlook"]["id"]}, headers=tenant.h("l1"))
    assert r.status_code == 404 and r.get_json()["code"] == "flow_not_found"
    r = client.post("/api/v1/l1/intake", json={"problem_statement": OUTLOOK_PROBLEM, "force_build": True,
                                                "flow_id": published["outlook"]["id"]}, headers=tenant.h("l1"))
    assert r.status_code == 422
    assert counts(engine) == (0, 0)
