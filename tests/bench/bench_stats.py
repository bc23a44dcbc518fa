"""GET /ops/stats on ten million jobs, and what recording attempts costs a job's transitions (issue 18).

    .venv/bin/python -m tests.bench.bench_stats [--jobs 10000000] [--days 30] [--runs 15] [--overhead-jobs 3000]

A throwaway database (migrated like production, dropped at the end) gets `--jobs` finished jobs spread over
`--days` (so the last hour holds jobs/days/24 of them), each with its attempt, one in ten with a second, seeded
by generate_series with the indexes dropped and rebuilt after (minutes instead of hours), then VACUUM ANALYZE.
It then times the stats query (shared/jobs/stats.py, in the system scope as the endpoint runs it) and prints
the EXPLAIN (ANALYZE, BUFFERS) of its two statements.

Overhead: claim + succeed_now (the one-round-trip hot path) and claim + retry_later (a session transition)
per job, with attempt recording (the code) against the same transitions without it (the statements as they
were before issue 18), interleaved in blocks in one run on the same table; the ratio is the figure to read.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg2
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import UUID

from db.engine import SYSTEM, dispose_engines, engine_for, make_engines, tenant, transaction
from db.models.jobs import jobs_table
from db.oneshot import OneShot, run
from shared.jobs import state_machine
from shared.jobs import stats as stats_mod
from shared.jobs.stats import Window, stats
from tests.helpers import admin_exec, create_database

KINDS = ("system.echo", "preview.resolution_note", "writeback.resolution_note", "assistant.reply", "l1.next_node")

# The transitions as they were before attempt recording (for the overhead ratio only).
_ID = bindparam("job_id", type_=UUID(as_uuid=True))
_TOKEN = bindparam("token", type_=UUID(as_uuid=True))
_OLD_CLAIM = OneShot.of(
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), "
    "heartbeat_at = now(), claim_token = :token, updated_at = now() WHERE id = :job_id AND status IN ('queued', "
    "'retrying') AND (next_attempt_at IS NULL OR next_attempt_at <= now()) RETURNING id", _ID, _TOKEN,
    columns=[jobs_table.c.id])
_OLD_SUCCEED = OneShot.of(
    "UPDATE jobs SET status = 'succeeded', result = :result, error = NULL, finished_at = now(), claim_token = NULL, "
    "updated_at = now() WHERE id = :job_id AND claim_token = :token AND status = 'running' RETURNING id",
    _ID, _TOKEN, bindparam("result", type_=jobs_table.c.result.type), columns=[jobs_table.c.id])
_OLD_RETRY_LATER = text(
    "UPDATE jobs SET status = 'retrying', error = :error, next_attempt_at = now(), dispatched_at = now(), "
    "claim_token = NULL, updated_at = now() WHERE id = :job_id AND claim_token = :token AND status = 'running' "
    "RETURNING id").bindparams(_ID, _TOKEN, bindparam("error", type_=jobs_table.c.error.type))


def create_db() -> dict[str, str]:
    return create_database("fp_bench_stats")


def admin(urls: dict[str, str]) -> Any:
    conn = psycopg2.connect(urls["admin"])  # the superuser: seeding is not a tenant's write
    conn.autocommit = True
    return conn


def timed(cur: Any, label: str, sql: str, params: Any = None) -> float:
    started = time.perf_counter()
    cur.execute(sql, params)
    took = time.perf_counter() - started
    print(f"  {label}: {took:.1f} s", flush=True)
    return took


def seed(urls: dict[str, str], jobs: int, days: int) -> dict[str, float]:
    print(f"seeding {jobs:,} jobs over {days} days", flush=True)
    conn = admin(urls)
    took: dict[str, float] = {}
    with conn.cursor() as cur:
        accounts = [uuid.uuid4() for _ in range(20)]
        for a in accounts:
            cur.execute("INSERT INTO accounts (id, name) VALUES (%s, %s)", (str(a), f"bench {a.hex[:6]}"))
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('jobs', 'job_attempts') "
                    "AND indexname NOT LIKE 'pk_%%'")
        indexes = [i for i in cur.fetchall() if i[0] != "uq_job_attempts_job_number"]  # a constraint: below
        cur.execute("ALTER TABLE job_attempts DROP CONSTRAINT uq_job_attempts_job_number")
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        span_s = days * 86400
        took["jobs"] = timed(cur, "jobs", f"""
            INSERT INTO jobs (id, account_id, kind, queue, status, attempts, max_attempts, payload, steps, retries,
                              crashes, created_at, updated_at, started_at, finished_at, attempt_started_at,
                              attempt_due_at, worker, dispatched_at)
            SELECT gen_random_uuid(), (%(accounts)s::uuid[])[1 + g %% 20], (%(kinds)s::text[])[1 + g %% 5], 'interactive',
                   CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 97 = 0 THEN 'cancelled' ELSE 'succeeded' END,
                   1, 5, '{{}}'::jsonb, '{{}}'::jsonb, '[]'::jsonb, 0,
                   t - interval '2 seconds', t, t - interval '1 second', t, t - interval '1 second',
                   t - interval '2 seconds', 'bench:1', t - interval '2 seconds'
            FROM generate_series(1, %(n)s) g,
                 LATERAL (SELECT now() - ((g::float8 * {span_s}) / %(n)s) * interval '1 second' AS t) x""",
                             {"n": jobs, "accounts": [str(a) for a in accounts], "kinds": list(KINDS)})
        took["attempts"] = timed(cur, "attempts", """
            INSERT INTO job_attempts (job_id, account_id, kind, number, worker, due_at, started_at, finished_at,
                                      outcome, error, external_errors)
            SELECT j.id, j.account_id, j.kind, n, j.worker, j.attempt_due_at - (n - 1) * interval '1 second',
                   j.attempt_started_at - (n - 1) * interval '1 second', j.finished_at - (n - 1) * interval '1 second',
                   CASE WHEN n = 1 AND second THEN 'retrying' ELSE j.status END,
                   CASE WHEN j.status = 'failed' OR (n = 1 AND second) THEN
                        '{"code": "psa_unavailable", "message": "ConnectWise unavailable (500)"}'::jsonb END,
                   CASE WHEN n = 1 AND second THEN 1 ELSE 0 END
            FROM (SELECT *, (hashtext(id::text) % 10 = 0) AS second FROM jobs WHERE status <> 'cancelled' AND worker = 'bench:1') j,
                 LATERAL generate_series(1, CASE WHEN j.second THEN 2 ELSE 1 END) n""")
        started = time.perf_counter()
        cur.execute("ALTER TABLE job_attempts ADD CONSTRAINT uq_job_attempts_job_number UNIQUE (job_id, number)")
        for _, definition in indexes:
            cur.execute(definition)
        took["indexes"] = time.perf_counter() - started
        print(f"  indexes rebuilt: {took['indexes']:.1f} s", flush=True)
        took["vacuum"] = timed(cur, "vacuum analyze", "VACUUM ANALYZE jobs, job_attempts")
        cur.execute("SELECT count(*) FROM jobs")
        took["rows_jobs"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM job_attempts")
        took["rows_attempts"] = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('jobs')), pg_size_pretty(pg_total_relation_size('job_attempts'))")
        took["sizes"] = cur.fetchone()
    conn.close()
    return took


def bench_stats(urls: dict[str, str], runs: int) -> dict[str, Any]:
    engine = make_engines(urls["app"], urls["system"], pool_size=4)
    times = []
    body: dict[str, Any] = {}
    for _ in range(runs):
        started = time.perf_counter()
        with transaction(engine, SYSTEM) as db:
            body = stats(db, Window(3600, 60))
        times.append((time.perf_counter() - started) * 1000)
    hour = sum(sum(body["all"]["finished"][s]) for s in ("succeeded", "failed", "cancelled"))
    attempts = sum(body["all"]["attempts"])
    plans = {}
    with engine_for(engine, SYSTEM).connect() as conn:
        conn.execute(text("SELECT set_config('app.system_scope', 'on', false)"))
        hi = conn.execute(text("SELECT date_bin('60 s', now(), TIMESTAMPTZ 'epoch') + interval '60 s'")).scalar_one()
        for name, stmt in (("jobs", stats_mod._FINISHED), ("attempts", stats_mod._ATTEMPTS)):
            params = {"step": 60, "lo": hi - timedelta(hours=1), "hi": hi}
            rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + stmt.text), params).scalars().all()
            plans[name] = rows
        conn.execute(text("SELECT set_config('app.system_scope', '', false)"))
    dispose_engines(engine)
    return {"ms": times, "hour_jobs": hour, "hour_attempts": attempts, "plans": plans}


def bench_overhead(urls: dict[str, str], jobs: int, block: int = 250) -> dict[str, Any]:
    """Per job: claim + finish, with attempt recording (the code) vs without (the old statements)."""
    engine = make_engines(urls["app"], urls["system"], pool_size=4)
    conn = admin(urls)
    with conn.cursor() as cur:
        account = uuid.uuid4()
        cur.execute("INSERT INTO accounts (id, name) VALUES (%s, 'overhead')", (str(account),))
        cur.execute("INSERT INTO jobs (id, account_id, kind, status) SELECT gen_random_uuid(), %s, 'system.echo', "
                    "'queued' FROM generate_series(1, %s)", (str(account), jobs * 4))
        cur.execute("SELECT id FROM jobs WHERE account_id = %s", (str(account),))
        ids = [r[0] for r in cur.fetchall()]
        cur.execute("VACUUM ANALYZE jobs")
    conn.close()
    scope = tenant(account)
    pools = {k: iter(ids[i * jobs:(i + 1) * jobs]) for i, k in enumerate(("new_now", "old_now", "new_tx", "old_tx"))}
    spent = dict.fromkeys(pools, 0.0)
    error = {"code": "bench", "message": "again"}

    def new_now(job_id: uuid.UUID) -> None:
        token = uuid.uuid4()
        assert state_machine.claim(engine, scope, job_id, token) is not None
        assert state_machine.succeed_now(engine, scope, job_id, token, {"ok": True})

    def old_now(job_id: uuid.UUID) -> None:
        token = uuid.uuid4()
        assert run(engine, scope, _OLD_CLAIM, {"job_id": job_id, "token": token})
        assert run(engine, scope, _OLD_SUCCEED, {"job_id": job_id, "token": token, "result": {"ok": True}})

    def new_tx(job_id: uuid.UUID) -> None:
        token = uuid.uuid4()
        assert state_machine.claim(engine, scope, job_id, token) is not None
        with transaction(engine, scope) as db:
            assert state_machine.retry_later(db, job_id, token, error, 0)

    def old_tx(job_id: uuid.UUID) -> None:
        token = uuid.uuid4()
        assert run(engine, scope, _OLD_CLAIM, {"job_id": job_id, "token": token})
        with transaction(engine, scope) as db:
            assert db.execute(_OLD_RETRY_LATER, {"job_id": job_id, "token": token, "error": error}).first()

    fns = {"new_now": new_now, "old_now": old_now, "new_tx": new_tx, "old_tx": old_tx}
    for _ in range(jobs // block):  # interleaved blocks: load on the machine hits both sides alike
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(block):
                fn(next(pools[name]))
            spent[name] += time.perf_counter() - started
    dispose_engines(engine)
    done = (jobs // block) * block
    return {k: v / done * 1000 for k, v in spent.items()} | {"jobs": done}


def summarise(plan: list[str]) -> str:
    keep = [line.strip() for line in plan if any(w in line for w in ("Scan", "Aggregate", "Sort", "Heap Fetches",
                                                                     "Execution Time", "Buffers: shared"))]
    return "\n".join(keep[:14])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--overhead-jobs", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        print("load:", f.read().strip())
    urls = create_db()
    print("database:", urls["name"])
    try:
        over = bench_overhead(urls, args.overhead_jobs)
        print(f"\nattempt recording overhead ({over['jobs']} jobs each, interleaved blocks):")
        print(f"  claim + succeed_now: {over['new_now']:.3f} ms with vs {over['old_now']:.3f} ms without "
              f"→ ratio {over['new_now'] / over['old_now']:.3f}")
        print(f"  claim + retry_later (session): {over['new_tx']:.3f} ms with vs {over['old_tx']:.3f} ms without "
              f"→ ratio {over['new_tx'] / over['old_tx']:.3f}")
        seeded = seed(urls, args.jobs, args.days)
        print(f"rows: jobs {seeded['rows_jobs']:,}, job_attempts {seeded['rows_attempts']:,}; sizes {seeded['sizes']}")
        result = bench_stats(urls, args.runs)
        ms = sorted(result["ms"])
        print(f"\nstats (60m, 1m) over {seeded['rows_jobs']:,} jobs: last hour {result['hour_jobs']:,} jobs, "
              f"{result['hour_attempts']:,} attempts")
        print(f"  {args.runs} runs: first {result['ms'][0]:.1f} ms, median {statistics.median(ms):.1f} ms, "
              f"max {ms[-1]:.1f} ms")
        for name, plan in result["plans"].items():
            print(f"\nEXPLAIN ({name}):")
            print(summarise(plan))
        with open("/proc/loadavg") as f:
            print("\nload:", f.read().strip())
    finally:
        if not args.keep:
            admin_exec(f'DROP DATABASE IF EXISTS "{urls["name"]}" WITH (FORCE)')
            print("dropped", urls["name"])


if __name__ == "__main__":
    main()
