"""Test helpers shared across modules."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import redis
from dramatiq import Worker
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from db.base import TENANT_TABLES
from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import AiSession, ApiToken, User
from shared.jobs.sweeper import SweepReport, sweep_once
from shared.security.tokens import display_prefix, generate_token, hash_token
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = "application/problem+json"
T = TypeVar("T")

ADMIN_URL = os.environ.get("FLOWPILOT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FLOWPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
APP_ROLE = "fp_test_app"
OWNER_ROLE = "fp_test_owner"
SYSTEM_ROLE = "fp_test_system"  # the only role allowed into the system scope (migration 0013b)




def wait_job(client: FlaskClient, headers: dict[str, str], job_id: str, *, until: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    etag = None
    while time.monotonic() < deadline:
        # A well-behaved poller: long-poll against the last ETag it saw, so no state is skipped.
        h = dict(headers, **({"If-None-Match": etag} if etag else {}))
        resp = client.get(f"/api/v1/jobs/{job_id}" + ("?wait=2" if etag else ""), headers=h)
        if resp.status_code == 304:
            continue
        assert resp.status_code == 200, resp.get_json()
        etag = resp.headers["ETag"]
        body = resp.get_json()
        if body["status"] in until:
            return body
        if body["status"] in ("succeeded", "failed", "cancelled"):
            raise AssertionError(f"job {job_id} ended {body['status']} while waiting for {until}: {body}")
    raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout}s: {body}")


def wait_queue_drained(client: redis.Redis, namespace: str, queue: str, timeout: float = 15.0) -> None:
    """Until the Dramatiq queue holds no message, ready or delivered-but-unacknowledged (its `.msgs` hash)."""
    deadline = time.monotonic() + timeout
    while client.llen(f"{namespace}:{queue}") or client.hlen(f"{namespace}:{queue}.msgs"):
        assert time.monotonic() < deadline, f"queue {queue} still holds messages after {timeout}s"
        time.sleep(0.05)


def concurrently(n: int, fn: Callable[[int], T], *, timeout: float = 60.0) -> list[T]:
    """Call fn(0) … fn(n - 1) in n threads released together by a barrier; the results in call order.

    An exception in any thread (a failed assert, a KeyError on an unexpected body) is raised here,
    so it fails the test instead of vanishing with its thread.
    """
    barrier = threading.Barrier(n)

    def go(i: int) -> T:
        barrier.wait(timeout)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def run_cli(app: Flask, *args: str) -> str:
    """Invoke the app's CLI in-process; it must exit 0. Returns its output."""
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def submit_job(client: FlaskClient, tenant: Any, **body: Any) -> dict[str, Any]:
    """POST a system.echo job (`body` adds or overrides fields) as the tenant's admin; the 202's job."""
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo", **body}, headers=tenant.h())
    assert resp.status_code == 202, resp.get_json()
    job: dict[str, Any] = resp.get_json()["job"]
    return job


def count_rows(engine: Any, model: Any, *where: Any) -> int:
    """Rows of `model` matching `where`, across all tenants (read in the system scope)."""
    with transaction(engine, SYSTEM) as db:
        return int(db.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def insert_sessions(engine: Any, tenant: Any, n: int, **fields: Any) -> list[uuid.UUID]:
    """`n` active sessions written straight to the tenant's table (`fields` override columns)."""
    rows = [{"id": uuid.uuid4(), "account_id": tenant.account_id, "status": "active", "state_version": 1,
             "intake_type": "free_text", "intake": {"problem": f"issue {i}"}, **fields} for i in range(n)]
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        db.execute(insert(AiSession), rows)
    return [r["id"] for r in rows]


def assert_problem(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem+json answer with this status (and code), and no stack trace."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body: dict[str, Any] = resp.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    if code:
        assert body["code"] == code, body
    assert "Traceback" not in resp.get_data(as_text=True)
    return body


def error_detail(err: BaseException) -> dict[str, Any]:
    """A JobError's detail dict (the ConnectWise client always sets one)."""
    value = getattr(err, "detail", None)
    assert isinstance(value, dict)
    return value


def sweep(app: Flask, *, stale_after_s: float, redispatch_after_s: float) -> SweepReport:
    """One pass of the real sweeper with the app's engine, dispatcher and Redis."""
    st = app.extensions["flowpilot"]
    return sweep_once(st.engine, st.dispatcher, st.redis, st.namespace,
                      stale_after_s=stale_after_s, redispatch_after_s=redispatch_after_s)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process group started with start_new_session, SIGKILL it if it lingers past 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def worker_process(env: dict[str, str], queues: tuple[str, ...] = ("interactive",)) -> Iterator[subprocess.Popen[bytes]]:
    """A real `dramatiq workers.main` process (its own process group) on the interactive queue (or `queues`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "2", "--queues", *queues],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        stop_group(proc)


@contextmanager
def web_server(env: dict[str, str], *, workers: int = 2) -> Iterator[str]:
    """The Procfile's web process for real (gunicorn with web/gunicorn_conf.py) on a free port; yields its URL."""
    import socket

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--graceful-timeout", "3", "web:create_app()"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "gunicorn exited during startup"
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        stop_group(proc)


def truncate_tenant_tables(owner_url: str) -> None:
    """Empty every tenant table (as the owner role; TRUNCATE is not subject to RLS)."""
    conn = psycopg2.connect(owner_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"TRUNCATE {', '.join(TENANT_TABLES)} CASCADE")
    finally:
        conn.close()


def clear_redis_namespace(redis_url: str, namespace: str) -> None:
    """Delete every Redis key under the namespace."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def url_for(role: str, dbname: str) -> str:
    base = psycopg2.extensions.parse_dsn(ADMIN_URL)
    host, port = base.get("host", "127.0.0.1"), base.get("port", "5432")
    return f"postgresql://{role}@{host}:{port}/{dbname}"


@contextmanager
def autocommit_cursor(dsn: str, *statements: str) -> Iterator[Any]:
    """A cursor on a fresh autocommit connection, after running `statements`; closed on exit."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
            yield cur
    finally:
        conn.close()


def admin_exec(*statements: str, dbname: str | None = None) -> None:
    dsn = ADMIN_URL if dbname is None else ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
    with autocommit_cursor(dsn, *statements):
        pass


def create_database(prefix: str) -> dict[str, str]:
    """A fresh database migrated by the owner role: its name and the URL of each role (and of the admin)."""
    from db.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    for role in (APP_ROLE, OWNER_ROLE, SYSTEM_ROLE):
        ensure_role(role)
    admin_exec(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    admin_exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC", f'ALTER SCHEMA public OWNER TO "{OWNER_ROLE}"', dbname=name)
    urls = {"name": name, "app": url_for(APP_ROLE, name), "owner": url_for(OWNER_ROLE, name),
            "system": url_for(SYSTEM_ROLE, name), "admin": ADMIN_URL.rsplit("/", 1)[0] + "/" + name}
    upgrade(Settings(database_url=urls["app"], flowpilot_migration_database_url=urls["owner"],
                     flowpilot_system_database_url=urls["system"]))
    return urls


def ensure_role(role: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            try:
                cur.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE')
            except psycopg2.errors.DuplicateObject:
                pass
    conn.close()


@dataclass
class Tenant:
    account_id: uuid.UUID
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def h(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def make_user(db: Any, account_id: uuid.UUID | None, role: str | None) -> tuple[uuid.UUID, str]:
    user = User(
        id=uuid.uuid4(),
        account_id=account_id,
        email=f"{role or 'op'}-{uuid.uuid4().hex[:6]}@example.test",
        role=role,
        is_operator=account_id is None,
    )
    db.add(user)
    db.flush()
    token = generate_token()
    db.add(
        ApiToken(
            id=uuid.uuid4(),
            account_id=account_id,
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=display_prefix(token),
        )
    )
    return user.id, token


@contextmanager
def start_worker(settings: Settings, threads: int = 4, pools: dict[str, int] | None = None) -> Iterator[Worker]:
    """Worker threads on all queues, or separate pools per queue (like the Procfile) with `pools`."""
    import dramatiq

    from workers import resources as resources_mod
    from workers.broker import build_broker, register_actors
    from workers.heartbeat import Heartbeat
    from workers.resources import Resources

    broker = build_broker(settings, with_resources=False)
    dramatiq.set_broker(broker)
    register_actors(broker)
    res = Resources.create(settings)
    res.set_worker_threads(sum(pools.values()) if pools else threads)
    res.heartbeat = Heartbeat(res, settings.flowpilot_heartbeat_interval_s, broker_id=broker.broker_id)
    res.heartbeat.start()
    resources_mod.install(res)
    if pools:
        extra = [Worker(broker, queues={q}, worker_threads=n, worker_timeout=100) for q, n in pools.items()]
        for e in extra:
            e.start()
        yield extra[0]
        for e in extra:
            e.stop()
        broker.close()
        resources_mod.install(None)
        res.dispose()
        return
    w = Worker(broker, worker_threads=threads, worker_timeout=100)
    w.start()
    yield w
    w.stop()
    broker.close()
    resources_mod.install(None)
    res.dispose()
