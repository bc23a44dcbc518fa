"""Chaos infrastructure: re-exports the services and the process supervisor, plus HTTP/DB helpers.

Nothing here touches the machine's shared Postgres (127.0.0.1:5432) or Redis (127.0.0.1:6379)
beyond what tests/conftest.py already does (a throwaway database, Redis db 15 under an own
namespace). Faults that kill a server are only ever aimed at the private instances.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import requests

from tests.chaos.processes import StackConfig, WorkerKiller, running_stack
from tests.chaos.services import TIMINGS, PrivatePostgres, PrivateRedis, wait_until

__all__ = ["TIMINGS", "PrivatePostgres", "PrivateRedis", "StackConfig", "WorkerKiller", "running_stack",
           "wait_until", "TERMINAL", "TenantTokens", "fetch_jobs", "http", "make_tenant", "wait_terminal"]


@dataclass
class TenantTokens:
    account_id: uuid.UUID
    tokens: dict[str, str]
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def h(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def make_tenant(system_url: str, name: str = "Chaos MSP") -> TenantTokens:
    """An account with admin and engineer users, written in the system scope as the system role."""
    from db.engine import SYSTEM, make_engine, transaction
    from db.models import Account
    from tests.helpers import make_user

    engine = make_engine(system_url, pool_size=1, max_overflow=0)
    try:
        with transaction(engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            tenant = TenantTokens(account.id, {})
            for role in ("admin", "engineer"):
                tenant.user_ids[role], tenant.tokens[role] = make_user(db, account.id, role)
        return tenant
    finally:
        engine.dispose()


_local = threading.local()


def http() -> requests.Session:
    """One keep-alive session per thread."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def fetch_jobs(admin_db_url: str, job_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Job rows read as the superuser (RLS does not apply), keyed by id."""
    conn = psycopg2.connect(admin_db_url)
    try:
        with conn.cursor() as cur:
            cols = "id, kind, status, attempts, max_attempts, payload, result, error, steps, claim_token, finished_at, session_id"
            if job_ids is None:
                cur.execute(f"SELECT {cols} FROM jobs")
            else:
                cur.execute(f"SELECT {cols} FROM jobs WHERE id = ANY(%s::uuid[])", (job_ids,))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
    for row in rows:
        row["id"] = str(row["id"])
    return {row["id"]: row for row in rows}


TERMINAL = ("succeeded", "failed", "cancelled")


def wait_terminal(admin_db_url: str, job_ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
    """Wait (bounded) until every job is terminal; return the rows either way (the caller counts stuck)."""
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while True:
        try:
            rows = fetch_jobs(admin_db_url, job_ids)
        except psycopg2.OperationalError:
            rows = rows or {}
        else:
            if len(rows) == len(job_ids) and all(r["status"] in TERMINAL for r in rows.values()):
                return rows
        if time.monotonic() >= deadline:
            return rows
        time.sleep(0.25)

