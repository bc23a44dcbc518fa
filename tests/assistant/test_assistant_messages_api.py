"""POST/GET /ai-sessions/{id}/messages without a worker: validation, one reply at a time, idempotency, tenancy."""
from __future__ import annotations

import uuid

import pytest

from db.models import Job, SessionMessage
from tests.assistant.chat import new_session, post, transcript
from tests.helpers import assert_problem, concurrently, count_rows, insert_sessions


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "   \n"}, {"content": "x" * 8001},
                                  {"content": "hi", "role": "assistant"}, {"content": 42}])
def test_bad_bodies_are_422_and_write_nothing(client, tenant, engine, body):
    sid = new_session(client, tenant)["id"]
    r = client.post(f"/api/v1/ai-sessions/{sid}/messages", json=body, headers=tenant.h("engineer"))
    assert_problem(r, 422, "validation_failed")
    assert count_rows(engine, SessionMessage) == 0 and count_rows(engine, Job) == 0


def test_post_answers_202_with_the_message_and_a_reply_job(client, tenant, engine):
    sid = new_session(client, tenant)["id"]
    r = post(client, tenant, sid, "  The printer is offline  ")
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["message"]["content"] == "The printer is offline" and body["message"]["role"] == "user"
    assert body["job"]["kind"] == "assistant.reply" and body["job"]["status"] == "queued"
    assert body["job"]["session_id"] == sid and body["message"]["job_id"] == body["job"]["id"]
    assert transcript(client, tenant, sid)["items"] == [body["message"]]


def test_a_second_message_while_the_reply_is_in_flight_is_409_naming_the_job(client, tenant, engine):
    sid = new_session(client, tenant)["id"]
    job_id = post(client, tenant, sid, "first").get_json()["job"]["id"]
    body = assert_problem(post(client, tenant, sid, "second"), 409, "reply_in_flight")
    assert body["job_id"] == job_id
    assert [m["content"] for m in transcript(client, tenant, sid)["items"]] == ["first"]


def test_concurrent_posts_make_one_job_and_the_rest_409(app, tenant, engine):
    sid = new_session(app.test_client(), tenant)["id"]

    def go(i: int):
        r = post(app.test_client(), tenant, sid, f"message {i}")
        return r.status_code, r.get_json()

    results = concurrently(5, go)
    accepted = [b for s, b in results if s == 202]
    refused = [b for s, b in results if s == 409]
    assert len(accepted) == 1 and len(refused) == 4, results
    assert {b["code"] for b in refused} == {"reply_in_flight"}
    assert {b["job_id"] for b in refused} == {accepted[0]["job"]["id"]}
    assert count_rows(engine, Job, Job.kind == "assistant.reply") == 1
    assert count_rows(engine, SessionMessage) == 1  # the refused messages were not stored


def test_idempotency_key_replays_the_same_message_and_job(client, tenant, engine):
    sid = new_session(client, tenant)["id"]
    first = post(client, tenant, sid, "hello", **{"Idempotency-Key": "k-1"})
    again = post(client, tenant, sid, "hello", **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert count_rows(engine, SessionMessage) == 1
    other = post(client, tenant, sid, "something else", **{"Idempotency-Key": "k-1"})
    assert_problem(other, 422, "idempotency_key_reused")


def test_a_resolved_session_is_closed(client, tenant, engine):
    (sid,) = insert_sessions(engine, tenant, 1, status="resolved")
    body = assert_problem(post(client, tenant, str(sid), "is it fixed?"), 409, "session_closed")
    assert body["session_status"] == "resolved"
    assert count_rows(engine, SessionMessage) == 0 and count_rows(engine, Job) == 0


@pytest.mark.parametrize("status", ["paused", "requesting_escalation", "escalated"])
def test_other_statuses_keep_the_conversation_open(client, tenant, engine, status):
    (sid,) = insert_sessions(engine, tenant, 1, status=status)
    assert post(client, tenant, str(sid), "one more thing").status_code == 202


def test_another_tenants_session_is_404_for_both_verbs(client, tenant, other_tenant, engine):
    sid = new_session(client, tenant)["id"]
    post(client, tenant, sid, "mine")
    for r in (post(client, other_tenant, sid, "theirs"),
              client.get(f"/api/v1/ai-sessions/{sid}/messages", headers=other_tenant.h("engineer"))):
        assert_problem(r, 404, "session_not_found")
    missing = client.get(f"/api/v1/ai-sessions/{uuid.uuid4()}/messages", headers=tenant.h("engineer"))
    assert_problem(missing, 404, "session_not_found")
    assert count_rows(engine, SessionMessage) == 1


def test_l1_may_not_talk_to_the_assistant(client, tenant):
    sid = new_session(client, tenant)["id"]
    assert_problem(post(client, tenant, sid, "hi", role="l1"), 403, "forbidden")


def test_after_must_name_a_message_of_this_session(client, tenant):
    sid = new_session(client, tenant)["id"]
    other = new_session(client, tenant)["id"]
    foreign = post(client, tenant, other, "elsewhere").get_json()["message"]["id"]
    for after in (str(uuid.uuid4()), foreign):
        r = client.get(f"/api/v1/ai-sessions/{sid}/messages?after={after}", headers=tenant.h("engineer"))
        assert_problem(r, 422, "invalid_cursor")
    assert_problem(client.get(f"/api/v1/ai-sessions/{sid}/messages?limit=0", headers=tenant.h("engineer")), 422)
