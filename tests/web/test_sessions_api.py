"""Sessions and facts: create/get/list with cursors, state_version bumps, tenant isolation."""
from __future__ import annotations

import uuid

from flask import Flask

from tests.helpers import concurrently


def new_session(client, tenant, **body) -> dict:
    resp = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "VPN drops"}, **body}, headers=tenant.h("engineer"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_create_get_session(client, tenant):
    created = new_session(client, tenant)
    assert created["status"] == "active" and created["state_version"] == 1
    got = client.get(f"/api/v1/ai-sessions/{created['id']}", headers=tenant.h("engineer")).get_json()
    assert got == created


def test_list_paginates_with_cursor_and_filters(client, tenant):
    ids = [new_session(client, tenant)["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        url = "/api/v1/ai-sessions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=tenant.h("engineer")).get_json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert client.get("/api/v1/ai-sessions?status=resolved", headers=tenant.h("engineer")).get_json()["items"] == []


def test_facts_bump_state_version_and_delete_is_soft(client, tenant):
    s = new_session(client, tenant)
    f1 = client.post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": "DNS resolves"}, headers=tenant.h("engineer"))
    assert f1.status_code == 201 and f1.get_json()["state_version"] == 2
    fact_id = f1.get_json()["id"]
    d = client.delete(f"/api/v1/ai-sessions/{s['id']}/facts/{fact_id}", headers=tenant.h("engineer"))
    assert d.status_code == 200 and d.get_json()["state_version"] == 3
    again = client.delete(f"/api/v1/ai-sessions/{s['id']}/facts/{fact_id}", headers=tenant.h("engineer"))
    assert again.status_code == 404 and again.get_json()["code"] == "fact_not_found"
    assert client.get(f"/api/v1/ai-sessions/{s['id']}", headers=tenant.h("engineer")).get_json()["state_version"] == 3


def test_concurrent_fact_writes_never_lose_a_bump(app: Flask, tenant):
    """Real concurrent transactions (threads, separate connections): N writes → version + N."""
    c = app.test_client()
    s = new_session(c, tenant)

    def write(i: int) -> tuple[int, str]:
        r = app.test_client().post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": f"fact {i}"},
                                   headers=tenant.h("engineer"))
        return r.status_code, r.get_data(as_text=True)

    results = concurrently(8, write)
    assert [code for code, _ in results] == [201] * 8, results
    assert c.get(f"/api/v1/ai-sessions/{s['id']}", headers=tenant.h("engineer")).get_json()["state_version"] == 9


def _connection(client, tenant) -> dict:
    return client.post(
        "/api/v1/psa-connections",
        json={"provider": "connectwise", "site_url": "http://127.0.0.1:8765", "company_id": "acme",
              "public_key": "pub", "private_key": "priv"},
        headers=tenant.h("admin"),
    ).get_json()


def test_psa_ticket_requires_connection_of_same_tenant(client, tenant, other_tenant):
    resp = client.post("/api/v1/ai-sessions", json={"psa_ticket_id": "48291"}, headers=tenant.h("engineer"))
    assert resp.status_code == 422
    conn = _connection(client, other_tenant)
    resp = client.post(
        "/api/v1/ai-sessions", json={"psa_connection_id": conn["id"], "psa_ticket_id": "48291"}, headers=tenant.h("engineer")
    )
    assert resp.status_code == 404 and resp.get_json()["code"] == "psa_connection_not_found"
    ok = client.post(
        "/api/v1/ai-sessions", json={"psa_connection_id": conn["id"], "psa_ticket_id": "48291"}, headers=other_tenant.h("engineer")
    )
    assert ok.status_code == 201 and ok.get_json()["psa_ticket_id"] == "48291"


def test_cross_tenant_ids_are_404_everywhere(client, tenant, other_tenant, worker):
    s = new_session(client, tenant)
    fact = client.post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": "x"}, headers=tenant.h("engineer")).get_json()
    job = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h()).get_json()["job"]
    conn = _connection(client, tenant)
    h = other_tenant.h("owner")
    checks = [
        client.get(f"/api/v1/ai-sessions/{s['id']}", headers=h),
        client.post(f"/api/v1/ai-sessions/{s['id']}/facts", json={"text": "y"}, headers=h),
        client.delete(f"/api/v1/ai-sessions/{s['id']}/facts/{fact['id']}", headers=h),
        client.get(f"/api/v1/jobs/{job['id']}", headers=h),
        client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=h),
        client.post(f"/api/v1/jobs/{job['id']}/retry", headers=h),
        client.patch(f"/api/v1/psa-connections/{conn['id']}", json={"is_active": False}, headers=h),
    ]
    for resp in checks:
        assert resp.status_code == 404, (resp.request.path, resp.get_data(as_text=True))
    assert client.get("/api/v1/ai-sessions", headers=h).get_json()["items"] == []
    assert client.get("/api/v1/psa-connections", headers=h).get_json()["items"] == []
    # and nothing changed for the owner
    assert client.get(f"/api/v1/ai-sessions/{s['id']}", headers=tenant.h("engineer")).get_json()["state_version"] == 2
    assert client.get("/api/v1/psa-connections", headers=tenant.h()).get_json()["items"][0]["is_active"] is True


def test_unknown_ids_are_404(client, tenant):
    missing = uuid.uuid4()
    assert client.get(f"/api/v1/ai-sessions/{missing}", headers=tenant.h("engineer")).get_json()["code"] == "session_not_found"
    assert client.get(f"/api/v1/jobs/{missing}", headers=tenant.h("engineer")).status_code == 404
