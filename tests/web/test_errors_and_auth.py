"""Bad input and bad credentials: clear problem+json, nothing written."""
from __future__ import annotations

import time
import uuid

import pytest
import redis
from sqlalchemy import func

from db.engine import SYSTEM, transaction
from db.models import AiSession, Job
from tests.helpers import REDIS_URL, assert_problem, count_rows
from web.auth_cache import publish_auth_change


def test_missing_token_is_401(client):
    assert_problem(client.get("/api/v1/ai-sessions"), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic Zm9vOmJhcg==", "Bearer fp_" + "x" * 43, "Bearer"])
def test_invalid_token_is_401(client, header):
    assert_problem(client.get("/api/v1/ai-sessions", headers={"Authorization": header}), 401, "unauthorized")


def test_revoked_token_is_401(client, tenant, engine, namespace):
    from sqlalchemy import update

    from db.models import ApiToken

    assert client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")).status_code == 200  # now cached
    with transaction(engine, SYSTEM) as db:
        db.execute(update(ApiToken).where(ApiToken.user_id == tenant.user_ids["engineer"]).values(revoked_at=func.now()))
    # Whoever revokes announces it (the CLI does, see test_cli); here another process does, over Redis.
    publish_auth_change(redis.Redis.from_url(REDIS_URL), namespace)
    deadline = time.monotonic() + 2
    while client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")).status_code == 200:
        assert time.monotonic() < deadline, "the revocation never reached this process's token cache"
        time.sleep(0.01)
    assert_problem(client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")), 401)


def test_wrong_role_is_403(client, tenant, engine):
    assert_problem(client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("l1")), 403, "forbidden")
    assert_problem(
        client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h("engineer")), 403, "forbidden"
    )
    assert_problem(client.patch("/api/v1/account-settings", json={"preferences": {}}, headers=tenant.h("engineer")), 403)
    assert count_rows(engine, AiSession) == 0 and count_rows(engine, Job) == 0


def test_operator_cannot_use_tenant_endpoints(client, operator):
    assert_problem(client.get("/api/v1/ai-sessions", headers=operator), 403, "forbidden")


def test_malformed_json_is_400_and_writes_nothing(client, tenant, engine):
    resp = client.post(
        "/api/v1/ai-sessions", data="{not json", headers=tenant.h("engineer", **{"Content-Type": "application/json"})
    )
    assert_problem(resp, 400, "invalid_json")
    assert count_rows(engine, AiSession) == 0


def test_unknown_field_is_422_with_field_errors(client, tenant, engine):
    resp = client.post("/api/v1/ai-sessions", json={"intake_type": "free_text", "surprise": 1}, headers=tenant.h("engineer"))
    body = assert_problem(resp, 422, "validation_failed")
    assert any(e["field"] == "surprise" for e in body["errors"])
    assert count_rows(engine, AiSession) == 0


def test_wrong_types_are_422(client, tenant):
    body = assert_problem(
        client.post("/api/v1/ai-sessions", json={"intake_content": "text", "psa_ticket_id": 12}, headers=tenant.h("engineer")),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"intake_content", "psa_ticket_id"} <= fields
    assert_problem(client.post("/api/v1/ai-sessions", json=[1, 2], headers=tenant.h("engineer")), 422)


def test_oversize_body_is_413(client, tenant, engine):
    big = {"intake_type": "free_text", "intake_content": {"blob": "x" * (300 * 1024)}}
    assert_problem(client.post("/api/v1/ai-sessions", json=big, headers=tenant.h("engineer")), 413, "payload_too_large")
    assert count_rows(engine, AiSession) == 0


def test_bad_uuid_in_path_is_404(client, tenant):
    assert_problem(client.get("/api/v1/ai-sessions/not-a-uuid", headers=tenant.h("engineer")), 404, "not_found")
    assert_problem(client.get("/api/v1/jobs/12345", headers=tenant.h("engineer")), 404)


def test_unknown_route_and_method(client, tenant):
    assert_problem(client.get("/api/v1/nope", headers=tenant.h()), 404)
    resp = client.delete("/api/v1/ai-sessions", headers=tenant.h())
    assert_problem(resp, 405, "method_not_allowed")


def test_bad_query_values_are_422(client, tenant):
    assert_problem(client.get("/api/v1/ai-sessions?limit=0", headers=tenant.h("engineer")), 422)
    assert_problem(client.get("/api/v1/ai-sessions?status=weird", headers=tenant.h("engineer")), 422)
    assert_problem(client.get("/api/v1/ai-sessions?cursor=%%%", headers=tenant.h("engineer")), 422, "invalid_cursor")
    assert_problem(client.get(f"/api/v1/jobs/{uuid.uuid4()}?wait=31", headers=tenant.h("engineer")), 422)


def test_wrong_content_type_is_415(client, tenant):
    resp = client.post("/api/v1/ai-sessions", data="a=b", headers=tenant.h("engineer", **{"Content-Type": "text/plain"}))
    assert_problem(resp, 415, "unsupported_media_type")


def test_openapi_document_lists_routes(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/jobs/{job_id}" in doc["paths"]
    assert "requestBody" in doc["paths"]["/api/v1/ai-sessions"]["post"]
