"""Bounds on everything a user can grow (issue 13, item 7).

A tenant user must not be able to make one request, one job or one table cost without limit: batches
(sessions per batch, active batches per tenant), the diagnostic echo's sleep, facts per session, flows and
categories (what every intake scans), PSA connections, and every list endpoint's page. Each limit answers
with a stable code, says the limit, and writes nothing.

Intake scans the tenant's published flows through a per-process index that is rebuilt only when a flow is
published or a category changes (its stamp), instead of loading and re-tokenising up to 2,000 flows per
request.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from db.engine import tenant as tenant_scope
from db.engine import transaction
from db.models import Batch, L1Category, L1Flow, SessionFact
from shared import limits
from tests.l1.flowdata import FLOWS, create_flow, put_category


def _sql(engine: Any, tenant: Any, statement: str, **params: Any) -> None:
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        db.execute(text(statement), {"a": tenant.account_id, **params})


def _count(engine: Any, tenant: Any, model: Any) -> int:
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def _sessions(engine: Any, tenant: Any, n: int, status: str = "active") -> None:
    _sql(engine, tenant, "INSERT INTO ai_sessions (id, account_id, status, intake_type) "
                         "SELECT gen_random_uuid(), :a, :s, 'free_text' FROM generate_series(1, :n)", n=n, s=status)


# -- batches ----------------------------------------------------------------------------------------------


def test_a_batch_over_the_session_limit_is_refused_with_the_limit(client, tenant, engine):
    _sessions(engine, tenant, limits.MAX_BATCH_SESSIONS + 1)
    resp = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "filter": {"status": "active"}},
                       headers=tenant.h())
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()
    assert body["code"] == "batch_too_large" and body["limit"] == limits.MAX_BATCH_SESSIONS
    assert str(limits.MAX_BATCH_SESSIONS) in body["detail"] and body["errors"][0]["field"] == "filter"
    assert _count(engine, tenant, Batch) == 0
    ok = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "filter": {"status": "paused"}},
                     headers=tenant.h())
    assert ok.status_code == 202, ok.get_json()


def test_session_ids_over_the_limit_are_refused(client, tenant):
    ids = [str(uuid.uuid4()) for _ in range(limits.MAX_BATCH_SESSIONS + 1)]
    resp = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note", "filter": {"session_ids": ids}},
                       headers=tenant.h())
    assert resp.status_code in (413, 422), resp.status_code  # 50,001 ids are also over the body size limit


def test_active_batches_per_tenant_are_bounded(client, tenant, other_tenant, operator, engine):
    body = {"action": "reverify_ticket_status", "filter": {"status": "resolved"}}
    for _ in range(limits.MAX_ACTIVE_BATCHES):  # no worker: they stay `expanding`
        assert client.post("/api/v1/batches", json=body, headers=tenant.h()).status_code == 202
    refused = client.post("/api/v1/batches", json=body, headers=tenant.h("owner"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "batch_limit_reached" and refused.get_json()["limit"] == limits.MAX_ACTIVE_BATCHES
    as_operator = client.post("/api/v1/batches", json={**body, "account_id": str(tenant.account_id)}, headers=operator)
    assert as_operator.status_code == 409
    assert client.post("/api/v1/batches", json=body, headers=other_tenant.h()).status_code == 202  # per tenant
    assert _count(engine, tenant, Batch) == limits.MAX_ACTIVE_BATCHES
    _sql(engine, tenant, "UPDATE batches SET status = 'succeeded' WHERE id = (SELECT id FROM batches LIMIT 1)")
    assert client.post("/api/v1/batches", json=body, headers=tenant.h()).status_code == 202


# -- echo, facts ----------------------------------------------------------------------------------------


def test_echo_delay_is_short_for_tenant_users_and_long_for_operators(client, tenant, operator):
    too_long = {"kind": "system.echo", "delay_ms": limits.MAX_TENANT_ECHO_DELAY_MS + 1}
    for role in ("admin", "owner"):
        resp = client.post("/api/v1/jobs", json=too_long, headers=tenant.h(role))
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["errors"][0]["field"] == "delay_ms"
        assert str(limits.MAX_TENANT_ECHO_DELAY_MS) in resp.get_json()["errors"][0]["message"]
    ok = client.post("/api/v1/jobs", json={"kind": "system.echo", "delay_ms": limits.MAX_TENANT_ECHO_DELAY_MS},
                     headers=tenant.h())
    assert ok.status_code == 202
    assert client.post("/api/v1/jobs", json=too_long, headers=operator).status_code == 202


def test_facts_per_session_are_bounded_deleted_ones_included(client, tenant, engine):
    sid = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "x"}},
                      headers=tenant.h("engineer")).get_json()["id"]
    url = f"/api/v1/ai-sessions/{sid}/facts"
    first = None
    for i in range(limits.MAX_FACTS_PER_SESSION):
        r = client.post(url, json={"text": f"fact {i}"}, headers=tenant.h("engineer"))
        assert r.status_code == 201, r.get_json()
        first = first or r.get_json()["id"]
    assert client.delete(f"{url}/{first}", headers=tenant.h("engineer")).status_code == 200
    refused = client.post(url, json={"text": "one more"}, headers=tenant.h("engineer"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "fact_limit_reached" and refused.get_json()["limit"] == limits.MAX_FACTS_PER_SESSION
    assert _count(engine, tenant, SessionFact) == limits.MAX_FACTS_PER_SESSION
    version = client.get(f"/api/v1/ai-sessions/{sid}", headers=tenant.h("engineer")).get_json()["state_version"]
    assert version == 1 + limits.MAX_FACTS_PER_SESSION + 1  # the refused add bumped nothing
    long_fact = client.post(url, json={"text": "x" * (limits.MAX_FACT_CHARS + 1)}, headers=tenant.h("engineer"))
    assert long_fact.status_code == 422


# -- flows, categories, connections -------------------------------------------------------------------------


def _flows(engine: Any, tenant: Any, n: int, status: str) -> None:
    tree = '{"start": "a", "nodes": [{"id": "a", "type": "resolve", "text": "done", "answers": []}]}'
    _sql(engine, tenant, "INSERT INTO l1_flows (id, account_id, title, category, keywords, tree, status, published_at) "
                         "SELECT gen_random_uuid(), :a, 'Flow ' || g, 'email', '[]', CAST(:tree AS jsonb), :s, now() "
                         "FROM generate_series(1, :n) g", n=n, s=status, tree=tree)


def test_published_flows_are_bounded(client, tenant, engine):
    _flows(engine, tenant, limits.MAX_PUBLISHED_FLOWS, "published")
    draft = create_flow(client, tenant, FLOWS["vpn"], publish=False)
    resp = client.post(f"/api/v1/l1/flows/{draft['id']}/publish", headers=tenant.h())
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["code"] == "flow_limit_reached" and resp.get_json()["limit"] == limits.MAX_PUBLISHED_FLOWS


def test_flows_including_drafts_are_bounded(client, tenant, engine):
    _flows(engine, tenant, limits.MAX_FLOWS, "draft")
    resp = client.post("/api/v1/l1/flows", json=FLOWS["vpn"], headers=tenant.h())
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["code"] == "flow_limit_reached" and resp.get_json()["limit"] == limits.MAX_FLOWS
    assert _count(engine, tenant, L1Flow) == limits.MAX_FLOWS


def test_categories_are_bounded(client, tenant, engine):
    _sql(engine, tenant, "INSERT INTO l1_categories (id, account_id, name, enabled, keywords) "
                         "SELECT gen_random_uuid(), :a, 'cat-' || g, true, '[]' FROM generate_series(1, :n) g",
         n=limits.MAX_CATEGORIES)
    resp = client.put("/api/v1/l1/categories/one-more", json={"enabled": True}, headers=tenant.h())
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["code"] == "category_limit_reached" and resp.get_json()["limit"] == limits.MAX_CATEGORIES
    flow = client.post("/api/v1/l1/flows", json={**FLOWS["vpn"], "category": "brand-new"}, headers=tenant.h())
    assert flow.status_code == 409 and flow.get_json()["code"] == "category_limit_reached"
    assert client.put("/api/v1/l1/categories/cat-7", json={"enabled": False}, headers=tenant.h()).status_code == 200
    assert _count(engine, tenant, L1Category) == limits.MAX_CATEGORIES
    listed = client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]
    assert len(listed) == limits.MAX_CATEGORIES


def test_psa_connections_per_tenant_are_bounded(client, tenant, engine):
    _sql(engine, tenant, "INSERT INTO psa_connections (id, account_id, provider, site_url, company_id, credentials) "
                         "SELECT gen_random_uuid(), :a, 'connectwise', 'https://psa.example.com', 'c' || g, '\\x00' "
                         "FROM generate_series(1, :n) g", n=limits.MAX_PSA_CONNECTIONS)
    body = {"provider": "connectwise", "site_url": "http://127.0.0.1:8765", "company_id": "acme",
            "public_key": "p", "private_key": "k"}
    resp = client.post("/api/v1/psa-connections", json=body, headers=tenant.h())
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["code"] == "psa_connection_limit_reached"
    assert len(client.get("/api/v1/psa-connections", headers=tenant.h()).get_json()["items"]) == limits.MAX_PSA_CONNECTIONS


LISTS = ["/api/v1/ai-sessions", "/api/v1/l1/flows", "/api/v1/l1/queue", "/api/v1/l1/escalations",
         "/api/v1/l1/sessions/active"]


@pytest.mark.parametrize("url", LISTS)
def test_every_list_endpoint_bounds_its_page(client, tenant, url):
    for bad in (0, -1, limits.MAX_PAGE + 1, 10**9):
        resp = client.get(f"{url}?limit={bad}", headers=tenant.h())
        assert resp.status_code == 422, (url, bad, resp.status_code)
    assert client.get(f"{url}?limit={limits.MAX_PAGE if 'active' not in url else 50}", headers=tenant.h()).status_code == 200


def test_operator_job_listing_bounds_its_page(client, operator):
    assert client.get(f"/api/v1/ops/jobs?limit={limits.MAX_OPS_PAGE + 1}", headers=operator).status_code == 422
    assert client.get(f"/api/v1/ops/jobs?limit={limits.MAX_OPS_PAGE}", headers=operator).status_code == 200


# -- the flow index ----------------------------------------------------------------------------------------


def _intake(client: Any, tenant: Any, problem: str) -> dict[str, Any]:
    resp = client.post("/api/v1/l1/intake", json={"problem_statement": problem}, headers=tenant.h("l1"))
    assert resp.status_code in (200, 201), resp.get_json()
    return dict(resp.get_json())


def test_intake_reuses_the_flow_index_until_a_publish(client, tenant, engine):
    vpn = create_flow(client, tenant, FLOWS["vpn"])
    put_category(client, tenant, "hardware", keywords=["monitor"])
    assert _intake(client, tenant, "VPN disconnects every few minutes")["outcome"] == "matched"
    # Behind the API's back (no publish, no category change): the cached index does not see it.
    _sql(engine, tenant, "UPDATE l1_flows SET title = 'Teams camera stays black', keywords = '[\"teams\", \"camera\"]' "
                         "WHERE id = :f", f=vpn["id"])
    assert _intake(client, tenant, "Teams camera stays black")["outcome"] != "matched"
    create_flow(client, tenant, FLOWS["printer"])  # a publish: every process rebuilds the tenant's index
    matched = _intake(client, tenant, "Teams camera stays black")
    assert matched["outcome"] == "matched" and matched["flow_id"] == vpn["id"], matched
    assert matched["session"]["flow"]["title"] == "Teams camera stays black" if matched["session"].get("flow") else True


def test_the_flow_index_is_per_tenant(client, tenant, other_tenant):
    create_flow(client, tenant, FLOWS["vpn"])
    create_flow(client, other_tenant, FLOWS["printer"])
    assert _intake(client, tenant, "VPN disconnects every few minutes")["outcome"] == "matched"
    assert _intake(client, other_tenant, "VPN disconnects every few minutes")["outcome"] != "matched"
    assert _intake(client, other_tenant, "Printer spooler stuck, print queue full")["outcome"] == "matched"
