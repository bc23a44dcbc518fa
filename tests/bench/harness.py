"""Benchmark harness: a throwaway database, the real app served over HTTP, in-process worker threads.

Benchmarks print figures beside a baseline measured in the same run; they assert nothing about time.
"""
from __future__ import annotations

import json
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
import redis
import requests
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from db.engine import SYSTEM, transaction
from db.migrate import upgrade
from shared.settings import Settings
from tests.helpers import (
    ADMIN_URL,
    APP_ROLE,
    OWNER_ROLE,
    REDIS_URL,
    SYSTEM_ROLE,
    Tenant,
    admin_exec,
    ensure_role,
    make_user,
    start_worker,
    url_for,
)

# Benchmarks that push one tenant past any sane per-tenant request rate keep the limiter running (its Redis call
# is part of every request's cost) with a limit they never reach. bench_watchers runs the stock default.
UNREACHED_RATE_LIMIT = "1000000/minute"


@dataclass
class Stack:
    settings: Settings
    base_url: str
    http: requests.Session
    app: Any

    def tenant(self, name: str = "Bench MSP") -> Tenant:
        from db.models import Account

        with transaction(self.app.extensions["flowpilot"].engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            t = Tenant(account.id)
            for role in ("engineer", "admin"):
                t.user_ids[role], t.tokens[role] = make_user(db, account.id, role)
        return t

    def wait_job(self, headers: dict[str, str], job_id: str, timeout: float = 60) -> dict[str, Any]:
        etag = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = dict(headers, **({"If-None-Match": etag} if etag else {}))
            r = self.http.get(f"{self.base_url}/api/v1/jobs/{job_id}" + ("?wait=10" if etag else ""), headers=h)
            if r.status_code == 304:
                continue
            body = r.json()
            etag = r.headers["ETag"]
            if body["status"] in ("succeeded", "failed", "cancelled"):
                return body
        raise TimeoutError(job_id)


@contextmanager
def stack(**overrides: Any) -> Iterator[Stack]:
    """Create and migrate a database, serve the app on a loopback port, yield; clean everything up."""
    name = f"fp_bench_{uuid.uuid4().hex[:8]}"
    for role in (APP_ROLE, OWNER_ROLE, SYSTEM_ROLE):
        ensure_role(role)
    admin_exec(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    namespace = f"fpbench-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=url_for(APP_ROLE, name),
        flowpilot_migration_database_url=url_for(OWNER_ROLE, name),
        flowpilot_system_database_url=url_for(SYSTEM_ROLE, name),
        redis_url=REDIS_URL,
        flowpilot_redis_namespace=namespace,
        flowpilot_secret_keys=Fernet.generate_key().decode(),
        flowpilot_psa_allowed_hosts="127.0.0.1:*",
        flowpilot_log_level="WARNING",
        **{"flowpilot_tenant_rate_limit": UNREACHED_RATE_LIMIT, **overrides},
    )
    upgrade(settings)
    from web import create_app

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stack(settings, f"http://127.0.0.1:{server.server_port}", requests.Session(), app)
    finally:
        server.shutdown()
        app.extensions["flowpilot"].dispose()
        client = redis.Redis.from_url(settings.redis_url)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


worker = start_worker


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": pct(samples, 50) * 1000, "p95_ms": pct(samples, 95) * 1000,
            "p99_ms": pct(samples, 99) * 1000, "mean_ms": statistics.fmean(samples) * 1000}


def machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def emit(name: str, data: dict[str, Any]) -> None:
    from pathlib import Path

    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({"machine": machine(), **data}, indent=2))


_ = (ADMIN_URL, psycopg2)
