"""POST /batches with dry_run: the count and the first 20 sessions, nothing written, a bounded count."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.models import Batch, Job
from tests.helpers import count_rows, insert_sessions


def test_dry_run_counts_and_samples_without_writing(client, tenant, other_tenant, engine):
    ids = insert_sessions(engine, tenant, 45)
    insert_sessions(engine, tenant, 7, status="resolved")
    insert_sessions(engine, other_tenant, 30)  # never counted for `tenant`
    before = (count_rows(engine, Batch), count_rows(engine, Job))
    r = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "dry_run": True,
                                             "filter": {"status": "active"}}, headers=tenant.h())
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["total"] == 45 and body["limit"] == 50_000 and body["exceeds_limit"] is False
    assert "total_at_least" not in body
    assert len(body["sample"]) == 20
    assert {s["id"] for s in body["sample"]} <= {str(i) for i in ids}
    first = body["sample"][0]
    assert set(first) >= {"id", "title", "status", "updated_at"}
    assert first["status"] == "active" and first["title"].startswith("issue ")
    assert (count_rows(engine, Batch), count_rows(engine, Job)) == before  # nothing created


def test_dry_run_applies_the_action_and_filter(client, tenant, engine):
    insert_sessions(engine, tenant, 3, status="resolved", psa_ticket_id="1")
    insert_sessions(engine, tenant, 4, status="resolved")  # no ticket: nothing to reverify
    r = client.post("/api/v1/batches", json={"action": "reverify_ticket_status", "dry_run": True}, headers=tenant.h())
    assert r.get_json()["total"] == 3 and len(r.get_json()["sample"]) == 3
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "dry_run": True,
                                             "filter": {"updated_since": later}}, headers=tenant.h())
    assert r.get_json() | {"filter": None} == {"action": "regenerate_resolution_note", "filter": None, "total": 0,
                                               "sample": [], "limit": 50_000, "exceeds_limit": False}


def test_dry_run_needs_an_admin(client, tenant):
    r = client.post("/api/v1/batches", json={"action": "reverify_ticket_status", "dry_run": True},
                    headers=tenant.h("engineer"))
    assert r.status_code == 403


def test_a_count_that_runs_out_of_time_answers_total_at_least(settings, tenant, engine):
    from web import create_app

    insert_sessions(engine, tenant, 20_000)
    app = create_app(settings.model_copy(update={"flowpilot_batch_count_timeout_ms": 1}))
    try:
        r = app.test_client().post("/api/v1/batches", json={"action": "regenerate_resolution_note", "dry_run": True},
                                   headers=tenant.h())
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert body["total"] is None and body["count_timed_out"] is True
        assert 20 <= body["total_at_least"] <= 20_000 and len(body["sample"]) == 20
        # The request's transaction survived the cancelled statement: the next request works as usual.
        again = app.test_client().get("/api/v1/ai-sessions?limit=1", headers=tenant.h())
        assert again.status_code == 200
    finally:
        app.extensions["flowpilot"].dispose()
