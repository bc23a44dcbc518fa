"""Flows (draft → published) and categories: validation with field errors, publish, listing, roles."""
from __future__ import annotations

import pytest

from tests.l1.flowdata import create_flow, flow, put_category


def post_flow(client, tenant, body, role="admin"):
    return client.post("/api/v1/l1/flows", json=body, headers=tenant.h(role))


def fields(resp) -> dict[str, str]:
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.get_json()
    return {e["field"]: e["message"] for e in resp.get_json()["errors"]}


def test_create_draft_then_publish(client, tenant):
    resp = post_flow(client, tenant, flow("vpn"))
    assert resp.status_code == 201
    draft = resp.get_json()
    assert draft["status"] == "draft" and draft["published_at"] is None and draft["start"] == "v1"
    assert draft["node_count"] == 3 and draft["nodes"][0]["answers"][0] == {"label": "Only on Wi-Fi", "next": "v_fix"}
    published = client.post(f"/api/v1/l1/flows/{draft['id']}/publish", headers=tenant.h("owner")).get_json()
    assert published["status"] == "published" and published["published_at"]
    again = client.post(f"/api/v1/l1/flows/{draft['id']}/publish", headers=tenant.h("admin")).get_json()
    assert again["published_at"] == published["published_at"]  # publishing twice changes nothing
    assert client.get(f"/api/v1/l1/flows/{draft['id']}", headers=tenant.h("admin")).get_json()["nodes"] == draft["nodes"]


def test_start_defaults_to_first_node_and_category_is_registered(client, tenant):
    created = create_flow(client, tenant, flow("outlook", category="Email"), publish=False)
    assert created["start"] == "q1" and created["category"] == "email"
    cats = client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]
    assert [(c["name"], c["enabled"]) for c in cats] == [("email", True)]


def test_dangling_answer_is_422_with_the_field(client, tenant):
    body = flow("outlook")
    body["nodes"][1]["answers"][1]["next"] = "nowhere"
    errors = fields(post_flow(client, tenant, body))
    assert "nodes.1.answers.1.next" in errors and "'nowhere'" in errors["nodes.1.answers.1.next"]


def test_cycle_is_422(client, tenant):
    body = flow("outlook")
    body["nodes"][1]["answers"][1]["next"] = "q1"  # q1 → q2 → q1
    resp = post_flow(client, tenant, body)
    errors = fields(resp)
    assert resp.get_json()["code"] == "invalid_flow"
    assert errors["nodes.0"] == "cycle: q1 → q2 → q1"


def test_no_terminal_is_422(client, tenant):
    body = {"title": "Loop", "category": "misc",
            "nodes": [{"id": "a", "type": "question", "text": "A?", "answers": [{"label": "go", "next": "b"}]},
                      {"id": "b", "type": "question", "text": "B?", "answers": [{"label": "back", "next": "a"}]}]}
    errors = fields(post_flow(client, tenant, body))
    assert errors["nodes"] == "at least one resolve or escalate node is required"
    assert errors["nodes.0"].startswith("cycle:")


def test_structural_errors_are_all_reported(client, tenant):
    body = {"title": "Bad", "category": "misc", "start": "zz",
            "nodes": [{"id": "a", "type": "question", "text": "A?", "answers": []},
                      {"id": "a", "type": "resolve", "text": "done", "answers": [{"label": "x", "next": "a"}]},
                      {"id": "c", "type": "question", "text": "C?",
                       "answers": [{"label": "Yes", "next": "a"}, {"label": "yes", "next": "a"}]}]}
    errors = fields(post_flow(client, tenant, body))
    assert {"nodes.1.id", "nodes.0.answers", "nodes.1.answers", "nodes.2.answers.1.label", "start"} <= set(errors)


@pytest.mark.parametrize("body", [
    {"title": "x", "category": "email"},                                     # no nodes
    {"title": "x", "category": "Bad Name!", "nodes": [{"id": "r", "type": "resolve", "text": "t"}]},
    {"title": "x", "category": "email", "nodes": [{"id": "r", "type": "fix", "text": "t"}]},
    {"title": "x", "category": "email", "nodes": [{"id": "r", "type": "resolve", "text": "t", "color": "red"}]},
    {"title": "", "category": "email", "nodes": [{"id": "r", "type": "resolve", "text": "t"}]},
    {"title": "x", "category": "email", "keywords": [" "], "nodes": [{"id": "r", "type": "resolve", "text": "t"}]},
])
def test_shape_errors_are_422(client, tenant, body):
    resp = post_flow(client, tenant, body)
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_failed" and resp.get_json()["errors"]


def test_list_filters_and_bounds(client, tenant):
    vpn = create_flow(client, tenant, flow("vpn"))
    create_flow(client, tenant, flow("printer"), publish=False)
    listed = client.get("/api/v1/l1/flows", headers=tenant.h("admin")).get_json()
    assert len(listed["items"]) == 2 and "nodes" not in listed["items"][0]
    only = client.get("/api/v1/l1/flows?status=published", headers=tenant.h("admin")).get_json()["items"]
    assert [f["id"] for f in only] == [vpn["id"]]
    page = client.get("/api/v1/l1/flows?limit=1", headers=tenant.h("admin")).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(f"/api/v1/l1/flows?limit=1&cursor={page['next_cursor']}", headers=tenant.h("admin")).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert client.get("/api/v1/l1/flows?category=printing", headers=tenant.h("admin")).get_json()["items"][0]["category"] == "printing"
    assert client.get("/api/v1/l1/flows?limit=500", headers=tenant.h("admin")).status_code == 422


def test_categories_put_creates_then_updates(client, tenant):
    resp = client.put("/api/v1/l1/categories/Hardware", json={"enabled": False, "keywords": ["monitor", "dock"]},
                      headers=tenant.h("admin"))
    assert resp.status_code == 201
    assert resp.get_json()["name"] == "hardware"
    assert resp.get_json()["enabled"] is False and resp.get_json()["keywords"] == ["monitor", "dock"]
    updated = client.put("/api/v1/l1/categories/hardware", json={"enabled": True}, headers=tenant.h("owner"))
    assert updated.status_code == 200 and updated.get_json()["enabled"] is True
    assert updated.get_json()["keywords"] == ["monitor", "dock"]  # untouched when not sent
    assert put_category(client, tenant, "hardware", keywords=[])["keywords"] == []


@pytest.mark.parametrize(("name", "body"), [("bad name", {"enabled": True}), ("ok", {}), ("ok", {"enabled": "yes"}),
                                            ("ok", {"enabled": True, "keywords": [""]}), ("ok", {"enabled": True, "x": 1})])
def test_categories_put_validation(client, tenant, name, body):
    resp = client.put(f"/api/v1/l1/categories/{name}", json=body, headers=tenant.h("admin"))
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_failed"


@pytest.mark.parametrize("role", ["l1", "engineer"])
def test_only_admins_author_flows_and_categories(client, tenant, role):
    created = create_flow(client, tenant, flow("vpn"), publish=False)
    assert post_flow(client, tenant, flow("outlook"), role=role).status_code == 403
    assert client.post(f"/api/v1/l1/flows/{created['id']}/publish", headers=tenant.h(role)).status_code == 403
    assert client.get("/api/v1/l1/flows", headers=tenant.h(role)).status_code == 403
    assert client.get(f"/api/v1/l1/flows/{created['id']}", headers=tenant.h(role)).status_code == 403
    assert client.put("/api/v1/l1/categories/email", json={"enabled": False}, headers=tenant.h(role)).status_code == 403
    assert client.get("/api/v1/l1/categories", headers=tenant.h(role)).status_code == 200


def test_other_tenants_flows_are_404_and_unlisted(client, tenant, other_tenant):
    created = create_flow(client, tenant, flow("vpn"), publish=False)
    for resp in (client.get(f"/api/v1/l1/flows/{created['id']}", headers=other_tenant.h("admin")),
                 client.post(f"/api/v1/l1/flows/{created['id']}/publish", headers=other_tenant.h("admin"))):
        assert resp.status_code == 404 and resp.get_json()["code"] == "flow_not_found"
    assert client.get("/api/v1/l1/flows", headers=other_tenant.h("admin")).get_json()["items"] == []
    assert client.get("/api/v1/l1/categories", headers=other_tenant.h("l1")).get_json()["items"] == []
    # the same category name in another tenant is its own row
    put_category(client, other_tenant, "network", enabled=False)
    mine = client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]
    assert [(c["name"], c["enabled"]) for c in mine] == [("network", True)]


def test_a_draft_is_edited_in_place_and_a_published_flow_is_not(client, tenant):
    draft = create_flow(client, tenant, flow("vpn"), publish=False)
    edited = flow("vpn", title="VPN drops on hotel Wi-Fi", keywords=["vpn", "hotel"])
    resp = client.put(f"/api/v1/l1/flows/{draft['id']}", json=edited, headers=tenant.h("admin"))
    assert resp.status_code == 200 and resp.get_json()["title"] == "VPN drops on hotel Wi-Fi"
    assert resp.get_json()["keywords"] == ["vpn", "hotel"] and resp.get_json()["status"] == "draft"
    broken = flow("vpn")
    broken["nodes"][0]["answers"][0]["next"] = "nowhere"
    bad = client.put(f"/api/v1/l1/flows/{draft['id']}", json=broken, headers=tenant.h("admin"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "nodes.0.answers.0.next"
    assert client.get(f"/api/v1/l1/flows/{draft['id']}", headers=tenant.h("admin")).get_json()["title"] == edited["title"]
    published = create_flow(client, tenant, flow("outlook"))
    refused = client.put(f"/api/v1/l1/flows/{published['id']}", json=flow("outlook"), headers=tenant.h("admin"))
    assert refused.status_code == 409 and refused.get_json()["code"] == "flow_published"


def test_import_through_the_api_is_all_or_nothing(client, tenant):
    bad = flow("vpn")
    bad["nodes"][0]["answers"][0]["next"] = "missing"
    resp = client.post("/api/v1/l1/flows/import", json=[flow("outlook"), bad], headers=tenant.h("admin"))
    assert resp.status_code == 422 and resp.get_json()["code"] == "invalid_flow_import"
    assert [e["field"] for e in resp.get_json()["errors"]] == ["flows.1.nodes.0.answers.0.next"]
    assert client.get("/api/v1/l1/flows", headers=tenant.h("admin")).get_json()["items"] == []
    ok = client.post("/api/v1/l1/flows/import?publish=true",
                     json={"categories": [{"name": "printing", "enabled": False}], "flows": [flow("outlook"), flow("vpn")]},
                     headers=tenant.h("admin"))
    assert ok.status_code == 201 and ok.get_json()["count"] == 2
    assert {f["status"] for f in ok.get_json()["flows"]} == {"published"}
    cats = {c["name"]: c["enabled"] for c in client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]}
    assert cats["printing"] is False
    elsewhere = client.post("/api/v1/l1/flows/import", json={"account_id": "00000000-0000-0000-0000-000000000001",
                                                              "flows": [flow("printer")]}, headers=tenant.h("admin"))
    assert elsewhere.status_code == 422
