"""Inputs Postgres cannot store, found by the schemathesis run: each one a 4xx problem, never a 500.

U+0000 and unpaired surrogate escapes in any JSON string (text and jsonb refuse both), NaN/Infinity
(Python's json accepts them, JSON and jsonb do not), nesting beyond the parser's limit, and
timestamps whose offset Postgres refuses (pydantic accepts up to ±23:59, Postgres ±15:59).
"""
from __future__ import annotations

import pytest

from db.models import AiSession, Job
from tests.helpers import assert_problem, count_rows

JSON = {"Content-Type": "application/json"}


def rows(engine, model, tenant) -> int:
    return count_rows(engine, model, model.account_id == tenant.account_id)


@pytest.mark.parametrize("raw", [
    '{"intake_content": {"note": "a\\u0000b"}}',
    '{"intake_content": {"a\\u0000": 1}}',
    '{"intake_content": {"list": ["ok", ["\\u0000"]]}}',
    '{"intake_content": {"note": "\\ud800"}}',
    '{"intake_content": {"note": "\\udfff tail"}}',
])
def test_unstorable_strings_are_422(client, tenant, engine, raw):
    body = assert_problem(client.post("/api/v1/ai-sessions", data=raw, headers=tenant.h("engineer", **JSON)), 422,
                   "validation_failed")
    assert body["errors"][0]["field"] == "body"
    assert rows(engine, AiSession, tenant) == 0


def test_unstorable_strings_everywhere_a_body_is_read(client, tenant, engine):
    sid = client.post("/api/v1/ai-sessions", json={}, headers=tenant.h("engineer")).get_json()["id"]
    assert_problem(client.post(f"/api/v1/ai-sessions/{sid}/facts", json={"text": "a\x00b"}, headers=tenant.h("engineer")),
            422, "validation_failed")
    assert_problem(client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"k": "\x00"}}, headers=tenant.h()),
            422, "validation_failed")
    assert_problem(client.patch("/api/v1/account-settings", json={"preferences": {"x": "\x00"}}, headers=tenant.h()),
            422, "validation_failed")
    assert rows(engine, Job, tenant) == 0


def test_nul_in_a_query_string_is_422(client, tenant, operator):
    assert_problem(client.get("/api/v1/ai-sessions?cursor=%00", headers=tenant.h("engineer")), 422, "validation_failed")
    assert_problem(client.get("/api/v1/ops/jobs?kind=echo%00", headers=operator), 422, "validation_failed")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_400(client, tenant, engine, constant):
    raw = f'{{"intake_content": {{"x": {constant}}}}}'
    assert_problem(client.post("/api/v1/ai-sessions", data=raw, headers=tenant.h("engineer", **JSON)), 400, "invalid_json")
    assert rows(engine, AiSession, tenant) == 0


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_nesting_beyond_the_parser_is_400(client, tenant, depth):
    raw = '{"intake_content": {"a": ' + "[" * depth + "]" * depth + "}}"
    assert_problem(client.post("/api/v1/ai-sessions", data=raw, headers=tenant.h("engineer", **JSON)), 400, "invalid_json")


def test_timestamps_with_far_offsets_are_normalised_not_500(client, tenant, operator):
    for since in ("2000-01-01T00:00:00+17:00", "3852-07-04T14:30:02+17:14", "2000-01-01T00:00:00-23:59"):
        assert client.post("/api/v1/ops/jobs/cancel", json={"since": since}, headers=operator).status_code == 200, since
        assert client.get("/api/v1/ops/jobs", query_string={"since": since}, headers=operator).status_code == 200, since
    r = client.post("/api/v1/batches", json={"action": "regenerate_resolution_note",
                                             "filter": {"updated_since": "2000-01-01T00:00:00+17:00"}}, headers=tenant.h())
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["batch"]["filter"]["updated_since"] == "1999-12-31T07:00:00Z"
    body = assert_problem(client.post("/api/v1/ops/jobs/retry", json={"since": "0001-01-01T00:00:00+17:00"}, headers=operator),
                   422, "validation_failed")
    assert body["errors"][0]["field"] == "since"
