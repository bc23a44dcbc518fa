"""Regeneration batches through Anthropic's Message Batches API (the real SDK against the stub's endpoints)."""
from __future__ import annotations

import math
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from db.engine import SYSTEM, transaction
from db.models import AiSession, Job, LlmProviderBatch, Preview
from tests.helpers import insert_sessions, start_worker, sweep

GROUP = 64  # requests per provider batch in these tests


@pytest.fixture
def mb_settings(llm_settings):
    return llm_settings.model_copy(update={
        "flowpilot_llm_batch_threshold": 20, "flowpilot_llm_batch_max_requests": GROUP,
        "flowpilot_llm_batch_poll_min_s": 0.1, "flowpilot_llm_batch_poll_max_s": 0.4})


def start(client, tenant, action="regenerate_resolution_note", **flt: Any) -> str:
    r = client.post("/api/v1/batches", json={"action": action, "filter": flt}, headers=tenant.h())
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["batch"]["id"])


def wait_batch(app, client, tenant, batch_id, *, timeout=90.0, stale_after_s=60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        sweep(app, stale_after_s=stale_after_s, redispatch_after_s=60)
        body = client.get(f"/api/v1/batches/{batch_id}", headers=tenant.h()).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled") and not body["pending"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"batch still {body}")


def per_call_requests(stub) -> int:
    return sum(1 for r in stub.requests if r.path == "/v1/messages")


def children(engine, batch_id) -> list[Any]:
    with transaction(engine, SYSTEM) as db:
        return list(db.execute(select(Job).where(Job.batch_id == batch_id)).scalars())


def previews_by_session(engine, session_ids) -> dict[Any, list[Any]]:
    with transaction(engine, SYSTEM) as db:
        rows = db.execute(select(Preview.session_id, Preview.state_version, Preview.job_id, Preview.usage)
                          .where(Preview.session_id.in_(session_ids))).all()
    out: dict[Any, list[Any]] = {}
    for r in rows:
        out.setdefault(r.session_id, []).append(r)
    return out


def test_200_sessions_through_message_batches_complete_each_child_once(app, client, tenant, engine, mb_settings,
                                                                       anthropic_stub):
    ids = insert_sessions(engine, tenant, 150) + insert_sessions(engine, tenant, 50, state_version=3)
    anthropic_stub.batches.latency_s = 1.5
    batch_id = start(client, tenant)
    with start_worker(mb_settings):
        # While the provider works, ten sessions move on: their previews still belong to the snapshot's version.
        deadline = time.monotonic() + 30
        while anthropic_stub.batches.requests_sent < 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with transaction(engine, SYSTEM) as db:
            db.execute(update(AiSession).where(AiSession.id.in_(ids[:10])).values(state_version=2))
        done = wait_batch(app, client, tenant, batch_id)
    assert done["status"] == "succeeded" and (done["total"], done["succeeded"], done["failed"]) == (200, 200, 0)
    calls = anthropic_stub.batches.calls
    assert calls["create"] == math.ceil(200 / GROUP) and anthropic_stub.batches.requests_sent == 200
    assert per_call_requests(anthropic_stub) == 0  # every draft came from a provider batch
    kids = children(engine, batch_id)
    assert {str(k.id) for k in kids} == {r["custom_id"] for b in anthropic_stub.batches.batches.values()
                                        for r in b.requests}
    assert all(k.status == "succeeded" and k.attempts == 1 and k.result["via"] == "message_batch" for k in kids)
    stored = previews_by_session(engine, ids)
    assert len(stored) == 200 and all(len(v) == 1 for v in stored.values())  # once per session
    versions = {sid: rows[0].state_version for sid, rows in stored.items()}
    assert {versions[s] for s in ids[:150]} == {1} and {versions[s] for s in ids[150:]} == {3}
    assert {rows[0].job_id for rows in stored.values()} == {k.id for k in kids}
    # The shared system prompt is cacheable; requests after the first read it from the cache.
    first = next(iter(anthropic_stub.batches.batches.values())).requests[0]["params"]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    llm = done["llm"]
    assert llm["mode"] == "message_batches" and len(llm["provider_batches"]) == 4
    assert all(g["status"] == "collected" and g["processing_status"] == "ended" for g in llm["provider_batches"])
    assert sum(g["request_count"] for g in llm["provider_batches"]) == 200
    cost = llm["cost"]
    assert cost["estimated"]["usd"] > 0 and cost["actual"]["requests"] == 200
    assert cost["actual"]["cache_read_input_tokens"] > 0
    assert cost["actual"]["usd"] < cost["actual"]["usd_per_call"] * 0.51  # half price (and cached reads)


def test_below_the_threshold_each_session_is_one_call(app, client, tenant, engine, mb_settings, anthropic_stub):
    insert_sessions(engine, tenant, 19)
    batch_id = start(client, tenant, "regenerate_escalation_package")
    with start_worker(mb_settings):
        done = wait_batch(app, client, tenant, batch_id)
    assert done["succeeded"] == 19 and done["llm"]["mode"] == "per_call" and done["llm"]["provider_batches"] == []
    assert anthropic_stub.batches.calls["create"] == 0 and per_call_requests(anthropic_stub) == 19
    assert done["llm"]["cost"]["actual"]["usd"] == done["llm"]["cost"]["actual"]["usd_per_call"] > 0


def test_offline_generator_keeps_todays_behaviour(app, client, tenant, engine, settings, anthropic_stub):
    insert_sessions(engine, tenant, 25)
    batch_id = start(client, tenant)
    with start_worker(settings):
        done = wait_batch(app, client, tenant, batch_id)
    assert done["succeeded"] == 25 and done["llm"]["mode"] == "per_call"
    assert anthropic_stub.calls == 0


def test_errored_and_expired_requests_fall_back(app, client, tenant, engine, mb_settings, anthropic_stub):
    insert_sessions(engine, tenant, 40)
    outcomes = {0: "errored", 1: "errored:overloaded_error", 2: "expired"}
    anthropic_stub.batches.outcome = lambda i, custom_id, params: outcomes.get(i % 10, "succeeded")
    batch_id = start(client, tenant)
    with start_worker(mb_settings):
        done = wait_batch(app, client, tenant, batch_id)
        # 4 refused (invalid request): failed with the provider's reason; 4 overloaded + 4 expired: per call.
        assert (done["succeeded"], done["failed"]) == (36, 4), done
        assert per_call_requests(anthropic_stub) == 8
        assert len(done["failures"]) == 4
        assert all(f["code"] == "llm_batch_request_failed" and "invalid_request_error" in f["message"]
                   for f in done["failures"])
        retried = client.post(f"/api/v1/batches/{batch_id}/retry-failed", headers=tenant.h())
        assert retried.status_code == 200 and retried.get_json()["retried"] == 4
        again = wait_batch(app, client, tenant, batch_id)
    assert (again["succeeded"], again["failed"], again["failures"]) == (40, 0, [])
    assert per_call_requests(anthropic_stub) == 12 and anthropic_stub.batches.calls["create"] == 1


def _wait_submitted(stub, timeout: float = 30.0) -> None:
    """Until the stub holds a provider batch (the poller has submitted one)."""
    deadline = time.monotonic() + timeout
    while not stub.batches.batches:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_whole_batch_expiry_sends_every_child_the_normal_way(app, client, tenant, engine, mb_settings, anthropic_stub):
    insert_sessions(engine, tenant, 30)
    anthropic_stub.batches.latency_s = 60
    batch_id = start(client, tenant)
    with start_worker(mb_settings):
        _wait_submitted(anthropic_stub)
        anthropic_stub.batches.expire(next(iter(anthropic_stub.batches.batches)))
        done = wait_batch(app, client, tenant, batch_id)
    assert done["succeeded"] == 30 and per_call_requests(anthropic_stub) == 30
    assert done["llm"]["provider_batches"][0]["request_counts"]["expired"] == 30


def test_cancel_propagates_to_the_provider(app, client, tenant, engine, mb_settings, anthropic_stub):
    ids = insert_sessions(engine, tenant, 30)
    anthropic_stub.batches.latency_s = 60
    batch_id = start(client, tenant)
    with start_worker(mb_settings):
        _wait_submitted(anthropic_stub)
        body = client.post(f"/api/v1/batches/{batch_id}/cancel", headers=tenant.h()).get_json()
        assert body["status"] == "cancelled" and body["cancelled"] == 30
        deadline = time.monotonic() + 30
        while anthropic_stub.batches.calls["cancel"] < 1:
            assert time.monotonic() < deadline, "the provider batch was never cancelled"
            time.sleep(0.05)
        poll = None
        while poll is None or poll.status != "succeeded":
            assert time.monotonic() < deadline, f"the poller did not finish: {poll and poll.status}"
            time.sleep(0.1)
            with transaction(engine, SYSTEM) as db:
                poll = db.execute(select(Job).where(Job.kind == "batch.llm_poll")).scalar_one()
    provider = next(iter(anthropic_stub.batches.batches.values()))
    assert provider.cancel_at is not None and provider.ended is not None
    assert per_call_requests(anthropic_stub) == 0 and not previews_by_session(engine, ids)
    with transaction(engine, SYSTEM) as db:
        group = db.execute(select(LlmProviderBatch)).scalar_one()
    assert group.status == "collected" and group.cancel_requested_at is not None
