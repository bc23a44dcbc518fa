"""Parked long-polls under the real serving model: gunicorn with web/gunicorn_conf.py (gevent workers), 2 processes.

The web server talks to a private Redis (restarted by one test; never the shared 6379) and to the test database.
A parked wait must hold no thread (more waits than the old 2 x 16 threads, and other requests still answered),
no Postgres connection, and must still wake: on the change, on cancel, and across a Redis restart.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg2
import pytest
import requests

from shared.settings import Settings
from tests.chaos.services import PrivateRedis
from tests.helpers import ADMIN_URL, APP_ROLE, Tenant, start_worker, web_server

CAP = 30  # FLOWPILOT_MAX_WAITS_PER_TOKEN for this server
WAIT = 25  # seconds each parked long-poll may wait; a wake-up returns long before, a timeout returns 304
ROLES = ("l1", "engineer", "admin", "owner")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def web(settings_env: dict[str, str], private_redis: PrivateRedis) -> Iterator[str]:
    env = {**settings_env, "REDIS_URL": private_redis.url, "FLOWPILOT_MAX_WAITS_PER_TOKEN": str(CAP)}
    with web_server(env) as url:
        yield url


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=150) as executor:
        yield executor


def _post_job(web: str, tenant: Tenant) -> dict[str, Any]:
    resp = requests.post(f"{web}/api/v1/jobs", json={"kind": "system.echo"}, headers=tenant.h(), timeout=10)
    assert resp.status_code == 202, resp.text
    job: dict[str, Any] = resp.json()["job"]
    return job


def _etag(web: str, tenant: Tenant, job_id: str) -> str:
    return requests.get(f"{web}/api/v1/jobs/{job_id}", headers=tenant.h(), timeout=10).headers["ETag"]


def _park(pool: ThreadPoolExecutor, web: str, tenant: Tenant, role: str, job_id: str, etag: str) -> Future[Any]:
    return pool.submit(requests.get, f"{web}/api/v1/jobs/{job_id}?wait={WAIT}",
                       headers=tenant.h(role, **{"If-None-Match": etag}), timeout=WAIT + 15)


def _parked(private_redis: PrivateRedis, settings: Settings) -> int:
    """Parked waits as the per-token cap counts them (in the server's Redis)."""
    client = private_redis.client()
    now = int(time.time() * 1000)
    keys = client.scan_iter(f"{settings.flowpilot_redis_namespace}:waits:*")
    return sum(int(client.zcount(k, now, "+inf")) for k in keys)


def _until(pred: Any, timeout: float = 60.0, why: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"condition not reached in time {why()}"
        time.sleep(0.05)


def _all_parked(private_redis: PrivateRedis, settings: Settings, waits: list[Future[Any]]) -> None:
    def why() -> str:
        early = [(f.result().status_code, f.result().text[:120]) for f in waits if f.done() and not f.exception()]
        return f"parked {_parked(private_redis, settings)} of {len(waits)}; returned early: {early[:5]}; " \
               f"failed: {[repr(f.exception())[:120] for f in waits if f.done() and f.exception()][:3]}"

    _until(lambda: _parked(private_redis, settings) == len(waits), why=why)


def _connections(database: dict[str, str]) -> dict[str, int]:
    """The app role's connections to the test database, by state (as the superuser sees pg_stat_activity)."""
    conn = psycopg2.connect(ADMIN_URL)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity WHERE datname = %s AND "
                        "usename = %s GROUP BY 1", (database["name"], APP_ROLE))
            return {state: int(n) for state, n in cur.fetchall()}
    finally:
        conn.close()


def _statuses(futures: list[Future[Any]]) -> list[tuple[int, str | None]]:
    out = []
    for f in futures:
        resp = f.result(timeout=WAIT + 20)
        out.append((resp.status_code, resp.json()["status"] if resp.status_code == 200 else None))
    return out


def test_parked_waits_hold_no_thread_and_no_connection_and_wake_on_cancel(
        web, private_redis, settings, database, make_tenant, pool):
    tenant, other = make_tenant(), make_tenant("Other MSP")
    job = _post_job(web, tenant)  # nobody consumes the private Redis: it stays queued
    etag = _etag(web, tenant, job["id"])
    waits = [_park(pool, web, tenant, role, job["id"], etag) for role in ROLES for _ in range(CAP)]
    _all_parked(private_redis, settings, waits)  # 120 parked: more than 2 x 16 threads

    # Another tenant is served while they are parked...
    for _ in range(5):
        assert requests.get(f"{web}/api/v1/ai-sessions", headers=other.h("engineer"), timeout=10).status_code == 200
    # ...and one more wait on a full token is refused, counted across both web processes.
    resp = requests.get(f"{web}/api/v1/jobs/{job['id']}?wait={WAIT}",
                        headers=tenant.h("engineer", **{"If-None-Match": etag}), timeout=10)
    assert resp.status_code == 429 and resp.json()["code"] == "too_many_waits" and int(resp.headers["Retry-After"]) >= 1
    # No parked wait holds a Postgres connection: far fewer connections than waits, none idle in a transaction.
    connections = _connections(database)
    assert sum(connections.values()) < len(waits) and "idle in transaction" not in connections, connections
    assert _parked(private_redis, settings) == len(waits) and not any(f.done() for f in waits)

    cancel = requests.post(f"{web}/api/v1/jobs/{job['id']}/cancel", headers=tenant.h(), timeout=10)
    assert cancel.status_code == 200
    assert _statuses(waits) == [(200, "cancelled")] * len(waits)
    _until(lambda: _parked(private_redis, settings) == 0)


def test_parked_waits_wake_on_the_change(web, private_redis, settings, make_tenant, pool):
    tenant = make_tenant()
    jobs = [_post_job(web, tenant) for _ in range(3)]
    waits = [_park(pool, web, tenant, role, job["id"], _etag(web, tenant, job["id"])) for job in jobs for role in ROLES
             for _ in range(5)]
    _all_parked(private_redis, settings, waits)
    with start_worker(settings.model_copy(update={"redis_url": private_redis.url})):
        results = _statuses(waits)
    # Each woke with the job's next state (a timeout would have been a 304 with no body).
    assert all(code == 200 and status in ("running", "succeeded") for code, status in results), results


def test_parked_waits_survive_a_redis_restart(web, private_redis, settings, make_tenant, pool):
    tenant = make_tenant()
    lost, back = _post_job(web, tenant), _post_job(web, tenant)
    waits_lost = [_park(pool, web, tenant, role, lost["id"], _etag(web, tenant, lost["id"])) for role in ROLES]
    waits_back = [_park(pool, web, tenant, role, back["id"], _etag(web, tenant, back["id"])) for role in ROLES]
    _all_parked(private_redis, settings, waits_lost + waits_back)

    private_redis.shutdown_nosave()  # every pub/sub connection cut; every key gone
    try:
        # While Redis is down the change cannot be published: the waiters notice it by re-reading.
        cancel = requests.post(f"{web}/api/v1/jobs/{lost['id']}/cancel", headers=tenant.h(), timeout=20)
        assert cancel.status_code == 200
        assert _statuses(waits_lost) == [(200, "cancelled")] * len(ROLES)
    finally:
        private_redis.start()  # empty, on the same port
    _until(lambda: requests.get(f"{web}/healthz", timeout=5).status_code == 200)
    time.sleep(2)  # the listeners resubscribe (their waiters re-read once, see nothing new, park again)
    assert not any(f.done() for f in waits_back)
    cancel = requests.post(f"{web}/api/v1/jobs/{back['id']}/cancel", headers=tenant.h(), timeout=10)
    assert cancel.status_code == 200
    assert _statuses(waits_back) == [(200, "cancelled")] * len(ROLES)


def test_concurrent_polls_never_deadlock_the_connection_pool(settings_env, private_redis, make_tenant, pool):
    """Every request's token lookup misses the cache here (TTL 0) and holds a connection; the poll's own read takes
    another. With 60 at once on a pool of 2 + 8, holding the first while waiting for the second deadlocked the pool
    until its 30 s timeout (500s): the view gives the first back before it reads."""
    env = {**settings_env, "REDIS_URL": private_redis.url, "FLOWPILOT_AUTH_CACHE_S": "0", "FLOWPILOT_DB_POOL_SIZE": "2"}
    with web_server(env, workers=1) as url:
        tenant = make_tenant()
        job = _post_job(url, tenant)
        etag = _etag(url, tenant, job["id"])
        polls = [pool.submit(requests.get, f"{url}/api/v1/jobs/{job['id']}", headers=tenant.h(role), timeout=60)
                 for role in ROLES for _ in range(10)]
        waits = [_park(pool, url, tenant, role, job["id"], etag) for role in ROLES for _ in range(5)]
        assert [f.result(timeout=60).status_code for f in polls] == [200] * len(polls)
        assert requests.post(f"{url}/api/v1/jobs/{job['id']}/cancel", headers=tenant.h(), timeout=30).status_code == 200
        assert _statuses(waits) == [(200, "cancelled")] * len(waits)
