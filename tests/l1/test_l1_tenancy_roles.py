"""Every L1 endpoint: other tenants' ids are 404, roles are enforced, lists never leak across tenants."""
from __future__ import annotations

import pytest

from tests.l1.flowdata import OUTLOOK_PROBLEM, create_flow, flow, start_walk

SESSION_CALLS = [
    ("get", "", None),
    ("post", "/step", {"node_id": "q1", "answer": "Yes"}),
    ("post", "/notes", {"text": "hi"}),
    ("post", "/resolve", {"helpful": True}),
    ("post", "/escalate", {"reason": "x"}),
    ("post", "/next-node", {}),
]


@pytest.mark.parametrize(("method", "tail", "body"), SESSION_CALLS)
def test_other_tenants_sessions_are_404(client, tenant, other_tenant, published, method, tail, body):
    s = start_walk(client, tenant)
    for role in ("l1", "engineer", "owner"):
        resp = getattr(client, method)(f"/api/v1/l1/sessions/{s['id']}{tail}", json=body, headers=other_tenant.h(role))
        assert resp.status_code == 404 and resp.get_json()["code"] == "session_not_found", (role, resp.get_json())
    after = client.get(f"/api/v1/l1/sessions/{s['id']}", headers=tenant.h("l1")).get_json()
    assert after["status"] == "active" and after["walked_path"] == [] and after["walk_notes"] == []


def test_unknown_session_is_404(client, tenant):
    resp = client.get("/api/v1/l1/sessions/00000000-0000-0000-0000-000000000000", headers=tenant.h("l1"))
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_lists_and_matching_never_cross_tenants(client, tenant, other_tenant, published):
    s = start_walk(client, tenant)
    client.post(f"/api/v1/l1/sessions/{s['id']}/escalate", json={}, headers=tenant.h("l1"))
    start_walk(client, tenant)
    h = other_tenant.h("owner")
    assert client.get("/api/v1/l1/queue", headers=h).get_json()["items"] == []
    assert client.get("/api/v1/l1/escalations", headers=h).get_json()["items"] == []
    assert client.get("/api/v1/l1/sessions/active", headers=other_tenant.h("l1")).get_json()["items"] == []
    # the other tenant has no flows or categories: the same problem is out of scope there
    body = client.post("/api/v1/l1/intake", json={"problem_statement": OUTLOOK_PROBLEM}, headers=other_tenant.h("l1")).get_json()
    assert body["outcome"] == "out_of_scope" and body["candidates"] == []


def test_other_tenants_category_settings_do_not_apply(client, tenant, other_tenant, published):
    create_flow(client, other_tenant, flow("outlook"))
    client.put("/api/v1/l1/categories/email", json={"enabled": False}, headers=other_tenant.h("admin"))
    body = client.post("/api/v1/l1/intake", json={"problem_statement": OUTLOOK_PROBLEM}, headers=tenant.h("l1")).get_json()
    assert body["outcome"] == "matched" and body["match"]["flow_id"] == published["outlook"]["id"]


ALL_L1 = [
    ("post", "/api/v1/l1/intake", {"problem_statement": "x"}),
    ("get", "/api/v1/l1/queue", None),
    ("get", "/api/v1/l1/sessions/active", None),
    ("post", "/api/v1/l1/escalate-without-walk", {"problem_statement": "x"}),
    ("get", "/api/v1/l1/categories", None),
    ("get", "/api/v1/l1/escalations", None),
    ("get", "/api/v1/l1/flows", None),
    ("post", "/api/v1/l1/flows", flow("vpn")),
    ("put", "/api/v1/l1/categories/email", {"enabled": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), ALL_L1)
def test_no_token_is_401_and_operators_are_403(client, operator, method, path, body):
    assert getattr(client, method)(path, json=body).status_code == 401
    resp = getattr(client, method)(path, json=body, headers=operator)
    assert resp.status_code == 403 and resp.get_json()["code"] == "forbidden"


def test_role_matrix(client, tenant):
    allowed = {
        "l1": {"/api/v1/l1/queue", "/api/v1/l1/sessions/active", "/api/v1/l1/categories"},
        "engineer": {"/api/v1/l1/queue", "/api/v1/l1/sessions/active", "/api/v1/l1/categories", "/api/v1/l1/escalations"},
        "admin": {"/api/v1/l1/queue", "/api/v1/l1/sessions/active", "/api/v1/l1/categories", "/api/v1/l1/escalations",
                  "/api/v1/l1/flows"},
    }
    for role, ok in allowed.items():
        for _, path, _ in (c for c in ALL_L1 if c[0] == "get"):
            status = client.get(path, headers=tenant.h(role)).status_code
            assert status == (200 if path in ok else 403), (role, path, status)
