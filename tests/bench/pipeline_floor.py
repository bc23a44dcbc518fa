"""The floor of the pipeline's shape on this machine, measured in the same run as the pipeline.

A job through the fixed shape needs at least: two HTTP requests through gunicorn + Flask (submit, poll), four
Postgres transactions (insert, claim, complete, read; each one round trip carrying the tenant's set_config and
the statement, the least a transaction under row-level security can cost), and one Dramatiq message sent and
processed. Each part is measured here with nothing
else in it: a Flask app that answers from constants (floor_app.py), raw psycopg2 with the app's SQL on the real
jobs table under row-level security, and raw Dramatiq (the send-and-process baseline). Their CPU per job adds
up to the least CPU any implementation of this shape can spend; with the cores the run had, that bounds
the end-to-end rate, and so the ratio to raw Dramatiq, from above.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg2
import requests

from tests.bench import aioclient, procstat
from tests.bench.realstack import ROOT, RealStack, free_port, stop_process

INSERT = ("INSERT INTO jobs (id, account_id, kind, queue, status, attempts, max_attempts, payload, steps, created_by, "
          "dispatched_at) VALUES (%s, %s, 'system.echo', 'interactive', 'queued', 0, 5, %s, '{}', %s, now()) RETURNING *")
CLAIM = ("UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), "
         "heartbeat_at = now(), claim_token = %s WHERE id = %s AND status IN ('queued', 'retrying') AND "
         "(next_attempt_at IS NULL OR next_attempt_at <= now()) RETURNING *")
COMPLETE = ("UPDATE jobs SET status = 'succeeded', result = %s, error = NULL, finished_at = now(), claim_token = NULL "
            "WHERE id = %s AND claim_token = %s AND status = 'running' RETURNING id")
READ = "SELECT * FROM jobs WHERE id = %s"
SCOPE = "SELECT set_config('app.account_id', %s, true)"


def http_floor(st: RealStack, n: int, clients: int) -> dict[str, Any]:
    """floor_app under the pipeline's gunicorn configuration; the pipeline's client, POST + GET per job."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
           "--workers", str(st.web_workers), "--threads", str(st.web_threads), "tests.bench.floor_app:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(procstat.children(proc.pid)) < st.web_workers or not _up(base):
            if time.monotonic() > deadline:
                raise TimeoutError("floor gunicorn did not start")
            time.sleep(0.1)
        aioclient.closed_loop(base, "floor", min(300, n), clients)  # warm-up
        me = os.getpid()
        meter = procstat.CpuMeter({"bench client (this process)": lambda: [me],
                                   "gunicorn (floor app)": lambda: procstat.tree(proc.pid)}).start()
        r = aioclient.closed_loop(base, "floor", n, clients)
        r.pop("ids")
        r["cpu"] = meter.stop(r["wall_s"])
        return r
    finally:
        stop_process(proc)


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/api/v1/jobs/x", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def db_floor(st: RealStack, account_id: uuid.UUID, user_id: uuid.UUID, n: int, threads: int) -> dict[str, Any]:
    """Raw psycopg2 (no SQLAlchemy, no app code), the app role under RLS: the four transactions of one job,
    each in its least form: one round trip, no pool ping."""
    dsn = st.settings.database_url.replace("postgresql+psycopg2://", "postgresql://")
    payload = json.dumps({"payload": {"i": 0}, "_options": {}})
    acct = str(account_id)

    def tx(cur: Any, conn: Any, sql: str, args: tuple[Any, ...]) -> Any:
        """One round trip: scope + statement as one implicit transaction (autocommit), as db/oneshot.py does."""
        cur.execute(SCOPE + "; " + sql, (acct, *args))
        return cur.fetchall()

    def work(conn: Any, count: int) -> None:
        cur = conn.cursor()
        for _ in range(count):
            job_id, token = str(uuid.uuid4()), str(uuid.uuid4())
            tx(cur, conn, INSERT, (job_id, acct, payload, str(user_id)))
            assert tx(cur, conn, CLAIM, (token, job_id)), "claim matched no row"
            assert tx(cur, conn, COMPLETE, (json.dumps({"echo": {}}), job_id, token)), "complete matched no row"
            tx(cur, conn, READ, (job_id,))

    # Connections open before the meter starts and close after it stops: a backend that exits in between
    # would take its CPU with it.
    conns = [psycopg2.connect(dsn) for _ in range(threads)]
    for conn in conns:
        conn.autocommit = True
    try:
        for conn in conns:
            work(conn, 10)  # warm-up (plans, caches)
        me = os.getpid()
        meter = procstat.CpuMeter({"bench client (this process)": lambda: [me],
                                   "postgres backends (bench db)": lambda: procstat.postgres_backends(st.db_name),
                                   "postgres server processes": procstat.postgres_background}).start()
        per = -(-n // threads)
        t0 = time.perf_counter()
        ts = [threading.Thread(target=work, args=(conn, per)) for conn in conns]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
        cpu = meter.stop(wall)
    finally:
        for conn in conns:
            conn.close()
    return {"jobs": per * threads, "threads": threads, "wall_s": wall, "jobs_per_s": per * threads / wall,
            "cpu": cpu}


def cpu_ms_per(res: dict[str, Any], n: int) -> float:
    return sum(v for k, v in res["cpu"].items() if k not in procstat.NOT_GROUPS) * 1000 / n


def bound(http: dict[str, Any], db: dict[str, Any], raw: dict[str, Any], e2e_cpu: dict[str, Any]) -> dict[str, Any]:
    """Add the parts' CPU per job; divide the cores the end-to-end run had (busy, minus others and steal)."""
    parts = {"HTTP: gunicorn + Flask + client, 2 requests": cpu_ms_per(http, http["jobs"]),
             "Postgres: 4 transactions, raw psycopg2 + server": cpu_ms_per(db, db["jobs"]),
             "Dramatiq: 1 message sent + processed + Redis": cpu_ms_per(raw, raw["messages"])}
    total = sum(parts.values())
    ours = sum(v for k, v in e2e_cpu.items() if k not in procstat.NOT_GROUPS) / e2e_cpu["wall_s"]
    cores = float(os.cpu_count() or 1)
    usable = cores - e2e_cpu.get("machine_cores_stolen", 0.0) - max(
        0.0, e2e_cpu["machine_cores_busy"] - e2e_cpu.get("machine_cores_stolen", 0.0) - ours)
    return {"parts_cpu_ms_per_job": parts, "floor_cpu_ms_per_job": total, "usable_cores": usable,
            "max_jobs_per_s": usable * 1000 / total if total else 0.0,
            "max_jobs_per_s_all_cores": cores * 1000 / total if total else 0.0}
