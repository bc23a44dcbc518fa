"""Per-user fairness: the per-token cap on parked long-polls and the per-tenant request rate limit (both 429).

Each test builds its own app with small limits (the session app keeps the defaults). Two apps on one database and
one Redis namespace stand for two web processes: the counters are in Redis, so they share them. Limits are per hour:
a sliding window that rolled over in the middle of a test would let an extra request through.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from db.engine import SYSTEM, transaction
from db.models import ApiToken, Job
from shared.settings import Settings
from tests.helpers import assert_problem, count_rows, submit_job

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(settings: Settings) -> Iterator[AppFactory]:
    from web import create_app

    apps: list[Flask] = []

    def make(**update: Any) -> Flask:
        application = create_app(settings.model_copy(update=update))
        application.config["TESTING"] = True
        apps.append(application)
        return application

    yield make
    for application in apps:
        application.extensions["flowpilot"].dispose()


def _token_id(engine: Any, user_id: uuid.UUID) -> uuid.UUID:
    with transaction(engine, SYSTEM) as db:
        return db.query(ApiToken.id).filter(ApiToken.user_id == user_id).scalar()  # type: ignore[no-any-return]


def _until(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Parked:
    """Long-polls in background threads, each with its own test client; their responses once they return."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.responses: list[Any] = []
        self.threads: list[threading.Thread] = []

    def park(self, job_id: str, headers: dict[str, str], wait: int = 20) -> None:
        etag = self.app.test_client().get(f"/api/v1/jobs/{job_id}", headers=headers).headers["ETag"]

        def run() -> None:
            resp = self.app.test_client().get(f"/api/v1/jobs/{job_id}?wait={wait}",
                                              headers={**headers, "If-None-Match": etag})
            self.responses.append(resp)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> list[Any]:
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads)
        return self.responses


# --------------------------------------------------------------------------- the per-token wait cap

def test_parked_waits_per_token_are_capped_with_429_and_retry_after(make_app, make_tenant, engine):
    app = make_app(flowpilot_max_waits_per_token=2)
    other_process = make_app(flowpilot_max_waits_per_token=2)
    tenant = make_tenant()
    cap = app.extensions["flowpilot"].wait_cap
    client = app.test_client()
    job = submit_job(client, tenant)  # no worker: it stays queued
    engineer = tenant.h("engineer")
    token = _token_id(engine, tenant.user_ids["engineer"])
    parked = Parked(app)
    parked.park(job["id"], engineer)
    Parked(other_process).park(job["id"], engineer)  # the same token, parked in "another process"
    _until(lambda: cap.parked(token) == 2)

    etag = client.get(f"/api/v1/jobs/{job['id']}", headers=engineer).headers["ETag"]
    resp = client.get(f"/api/v1/jobs/{job['id']}?wait=20", headers={**engineer, "If-None-Match": etag})
    body = assert_problem(resp, 429, "too_many_waits")
    assert body["max_waits_per_token"] == 2
    assert 1 <= int(resp.headers["Retry-After"]) <= 20  # when the oldest parked wait must have returned

    # Not counted against the cap: a poll without ?wait, a long-poll that need not park, another token.
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=engineer).status_code == 200
    assert client.get(f"/api/v1/jobs/{job['id']}?wait=20", headers={**engineer, "If-None-Match": '"stale"'}
                      ).status_code == 200
    parked.park(job["id"], tenant.h("admin"))
    _until(lambda: cap.parked(_token_id(engine, tenant.user_ids["admin"])) == 1)

    # Cancelling wakes every parked wait; their slots are given back, and the token may park again.
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=tenant.h()).status_code == 200
    _until(lambda: cap.parked(token) == 0)
    job2 = submit_job(client, tenant)
    again = Parked(app)
    again.park(job2["id"], engineer, wait=1)
    assert [r.status_code for r in again.join()] == [304]


def test_a_refused_wait_changes_nothing(make_app, make_tenant, engine):
    app = make_app(flowpilot_max_waits_per_token=1)
    tenant = make_tenant()
    client = app.test_client()
    job = submit_job(client, tenant)
    parked = Parked(app)
    parked.park(job["id"], tenant.h("engineer"), wait=3)
    token = _token_id(engine, tenant.user_ids["engineer"])
    _until(lambda: app.extensions["flowpilot"].wait_cap.parked(token) == 1)
    etag = client.get(f"/api/v1/jobs/{job['id']}", headers=tenant.h("engineer")).headers["ETag"]
    for _ in range(3):
        assert_problem(client.get(f"/api/v1/jobs/{job['id']}?wait=3",
                                  headers=tenant.h("engineer", **{"If-None-Match": etag})), 429, "too_many_waits")
    assert app.extensions["flowpilot"].wait_cap.parked(token) == 1  # refusals hold no slot
    assert [r.status_code for r in parked.join()] == [304]
    assert app.extensions["flowpilot"].wait_cap.parked(token) == 0


def test_a_cap_of_zero_turns_it_off(make_app, make_tenant):
    app = make_app(flowpilot_max_waits_per_token=0)
    tenant = make_tenant()
    job = submit_job(app.test_client(), tenant)
    parked = Parked(app)
    for _ in range(3):
        parked.park(job["id"], tenant.h("engineer"), wait=1)
    assert [r.status_code for r in parked.join()] == [304, 304, 304]


# --------------------------------------------------------------------------- the per-tenant rate limit

def test_tenant_rate_limit_is_shared_by_every_process_and_answers_429(make_app, make_tenant):
    one, two = make_app(flowpilot_tenant_rate_limit="6/hour"), make_app(flowpilot_tenant_rate_limit="6/hour")
    tenant, other = make_tenant(), make_tenant("Other MSP")
    for i in range(6):  # the tenant's users share one budget, across both "processes"
        app = one if i % 2 else two
        role = ("engineer", "admin", "owner")[i % 3]
        assert app.test_client().get("/api/v1/ai-sessions", headers=tenant.h(role)).status_code == 200
    resp = one.test_client().get("/api/v1/ai-sessions", headers=tenant.h("engineer"))
    body = assert_problem(resp, 429, "rate_limited")
    assert "limit" in body["detail"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert_problem(two.test_client().post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h()), 429)
    # Another tenant has its own budget.
    assert one.test_client().get("/api/v1/ai-sessions", headers=other.h("engineer")).status_code == 200


def _spent_budget(make_app, make_tenant):
    """An app allowing 2 requests an hour and a tenant that has just used both."""
    client = make_app(flowpilot_tenant_rate_limit="2/hour").test_client()
    tenant = make_tenant()
    for _ in range(2):
        assert client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")).status_code == 200
    return client, tenant


def test_a_refused_request_changes_nothing(make_app, make_tenant, engine):
    client, tenant = _spent_budget(make_app, make_tenant)
    before = count_rows(engine, Job)
    assert_problem(client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h()), 429, "rate_limited")
    assert count_rows(engine, Job) == before


def test_operators_health_auth_and_pages_are_not_counted(make_app, make_tenant, operator):
    client, tenant = _spent_budget(make_app, make_tenant)
    assert_problem(client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")), 429)
    for _ in range(5):
        assert client.get("/api/v1/ops/queues", headers=operator).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics", headers=operator).status_code == 200  # operators only, never counted
        assert client.get("/ops").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
        # The sign-in endpoints have their own throttle: never the tenant limit, with or without a token.
        assert client.post("/api/v1/auth/login", json={}, headers=tenant.h("engineer")).status_code != 429
        # A token that does not authenticate is refused as such, never counted or throttled.
        assert_problem(client.get("/api/v1/ai-sessions", headers={"Authorization": "Bearer fp_nope"}), 401)


def test_rate_limit_keeps_serving_when_redis_is_unreachable(make_app, make_tenant):
    """Counters fall back to process memory; the API stays up (and still limits)."""
    app = make_app(flowpilot_tenant_rate_limit="3/hour", redis_url="redis://127.0.0.1:1/0")
    tenant = make_tenant()
    client = app.test_client()
    statuses = [client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_empty_limit_turns_it_off(make_app, make_tenant, settings):
    app = make_app(flowpilot_tenant_rate_limit="")
    tenant = make_tenant()
    client = app.test_client()
    assert all(client.get("/api/v1/ai-sessions", headers=tenant.h("engineer")).status_code == 200 for _ in range(20))
    keys = list(redis.Redis.from_url(settings.redis_url).scan_iter(f"{settings.flowpilot_redis_namespace}:ratelimit*"))
    assert keys == []
