"""Batches: exact counts over 500+ sessions, cancel, reverify against the simulator, retry failed writebacks."""
from __future__ import annotations

import time

from tests.helpers import insert_sessions, start_worker, sweep, wait_job


def wait_batch(app, client, headers, batch_id, settings, timeout=90):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        sweep(app, stale_after_s=60, redispatch_after_s=60)
        body = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"batch still {body}")


def test_batch_over_500_sessions_finishes_with_exact_counts(app, client, tenant, engine, settings, worker):
    insert_sessions(engine, tenant, 520)
    r = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "filter": {"status": "active"}},
                    headers=tenant.h())
    assert r.status_code == 202, r.get_json()
    batch = r.get_json()["batch"]
    assert batch["status"] == "expanding"
    done = wait_batch(app, client, tenant.h(), batch["id"], settings)
    assert done["status"] == "succeeded" and done["total"] == 520
    assert (done["succeeded"], done["failed"], done["cancelled"], done["pending"]) == (520, 0, 0, 0)
    assert done["finished_at"]


def test_cancelled_batch_stops(app, client, tenant, engine, settings):
    insert_sessions(engine, tenant, 30)
    batch = client.post("/api/v1/batches", json={"action": "regenerate_escalation_package"}, headers=tenant.h()).get_json()["batch"]
    with start_worker(settings):  # expansion only: stop as soon as the children exist
        deadline = time.monotonic() + 20
        while client.get(f"/api/v1/batches/{batch['id']}", headers=tenant.h()).get_json()["total"] < 30:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    cancelled = client.post(f"/api/v1/batches/{batch['id']}/cancel", headers=tenant.h())
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert body["status"] == "cancelled" and body["cancelled"] + body["succeeded"] == 30 and body["pending"] == 0
    assert client.post(f"/api/v1/batches/{batch['id']}/cancel", headers=tenant.h()).status_code == 409


def test_reverify_reports_ticket_changed_behind_our_back(app, client, tenant, settings, cw_sim, psa_worker):
    client.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": 42}}, headers=tenant.h())
    conn = client.post("/api/v1/psa-connections", json={"provider": "connectwise", "site_url": cw_sim.site_url,
                       "company_id": "demo", "public_key": "pub", "private_key": "priv", "client_id": "c"},
                       headers=tenant.h()).get_json()
    sessions = []
    for ticket in (48291, 50001):
        if ticket != 48291:
            cw_sim.add_ticket(ticket)
        s = client.post("/api/v1/ai-sessions", json={"psa_connection_id": conn["id"], "psa_ticket_id": str(ticket)},
                        headers=tenant.h("engineer")).get_json()
        job = client.post(f"/api/v1/ai-sessions/{s['id']}/resolution-note/post", json={"markdown": "fixed"},
                          headers=tenant.h("engineer")).get_json()["job"]
        assert wait_job(client, tenant.h("engineer"), job["id"])["status"] == "succeeded"
        sessions.append(s)
    cw_sim.set_status(50001, 1)  # someone reopened it
    batch = client.post("/api/v1/batches", json={"action": "reverify_ticket_status"}, headers=tenant.h()).get_json()["batch"]
    done = wait_batch(app, client, tenant.h(), batch["id"], settings)
    assert done["total"] == 2 and done["succeeded"] == 2
    assert [m["ticket_id"] for m in done["mismatches"]] == ["50001"]
    assert done["mismatches"][0]["expected_status_id"] == 42 and done["mismatches"][0]["observed_status_id"] == 1


def test_retry_failed_writebacks_after_outage(app, client, tenant, settings, cw_sim, psa_worker):
    conn = client.post("/api/v1/psa-connections", json={"provider": "connectwise", "site_url": cw_sim.site_url,
                       "company_id": "demo", "public_key": "pub", "private_key": "bad", "client_id": "c"},
                       headers=tenant.h()).get_json()
    s = client.post("/api/v1/ai-sessions", json={"psa_connection_id": conn["id"], "psa_ticket_id": "48291"},
                    headers=tenant.h("engineer")).get_json()
    job = client.post(f"/api/v1/ai-sessions/{s['id']}/resolution-note/post", json={"markdown": "fixed"},
                      headers=tenant.h("engineer")).get_json()["job"]
    assert wait_job(client, tenant.h("engineer"), job["id"])["error"]["code"] == "psa_auth_failed"
    client.patch(f"/api/v1/psa-connections/{conn['id']}", json={"private_key": "priv"}, headers=tenant.h())
    batch = client.post("/api/v1/batches", json={"action": "retry_failed_writebacks"}, headers=tenant.h()).get_json()["batch"]
    done = wait_batch(app, client, tenant.h(), batch["id"], settings)
    assert done["total"] == 1 and done["succeeded"] == 1
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=tenant.h()).get_json()["batch_id"] == batch["id"]
    assert len(cw_sim.notes(48291)) == 1


def test_batch_roles_tenancy_and_operator(client, tenant, other_tenant, operator):
    assert client.post("/api/v1/batches", json={"action": "reverify_ticket_status"}, headers=tenant.h("engineer")).status_code == 403
    assert client.post("/api/v1/batches", json={"action": "nope"}, headers=tenant.h()).status_code == 422
    b = client.post("/api/v1/batches", json={"action": "reverify_ticket_status"}, headers=tenant.h()).get_json()["batch"]
    assert client.get(f"/api/v1/batches/{b['id']}", headers=other_tenant.h()).status_code == 404
    assert client.post("/api/v1/batches", json={"action": "reverify_ticket_status"}, headers=operator).status_code == 422
    r = client.post("/api/v1/batches", json={"action": "reverify_ticket_status", "account_id": str(other_tenant.account_id)},
                    headers=operator)
    assert r.status_code == 202
    assert client.get(f"/api/v1/batches/{r.get_json()['batch']['id']}", headers=other_tenant.h()).status_code == 200
