"""Writeback throughput against the ConnectWise simulator, beside the ideal for the worker pool's concurrency.

Two runs in one stack, each session on its own simulator ticket, every writeback submitted over HTTP at once:
- no added latency: measured jobs/s beside a "bare" baseline measured in the same run — C threads doing the
  same CW call sequence straight at the simulator with `requests` (no HTTP API, no queue, no database);
- `--latency` s per CW call: measured jobs/s beside the ideal concurrency / (calls per job * latency).

Wall time runs from the first submit to the last job reaching a terminal state. Correctness is checked too:
no failed job, exactly one note per ticket, every ticket at the resolved status (exit 1 otherwise).

Run: .venv/bin/python -m tests.bench.bench_writeback [--jobs-fast 200] [--jobs-slow 100] [--latency 0.2] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from tests.bench.harness import Stack, emit, pct, stack, table, worker
from tests.fakes.cw_simulator import DEMO_COMPANY, DEMO_PRIVATE, DEMO_PUBLIC, DEMO_TICKET, CwSimulator

RESOLVED = 42
TERMINAL = ("succeeded", "failed", "cancelled")
MARKDOWN = "## Summary\n\nPrinter back online after a spooler restart.\n\n## Steps\n\n1. Restarted the spooler."


def _pool(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="bench")


class _Client:
    """One requests.Session per submitting thread: the app's HTTP server sees parallel keep-alive clients."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._local = threading.local()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> requests.Response:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s.post(self.base_url + path, json=body, headers=headers, timeout=60)


def _create_sessions(client: _Client, pool: ThreadPoolExecutor, h: dict[str, str], conn_id: str,
                     tickets: list[int]) -> list[str]:
    def one(ticket: int) -> str:
        r = client.post("/api/v1/ai-sessions", {"intake_content": {"problem": f"bench ticket {ticket}"},
                                                "psa_connection_id": conn_id, "psa_ticket_id": str(ticket)}, h)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return list(pool.map(one, tickets))


def _submit(client: _Client, pool: ThreadPoolExecutor, h: dict[str, str], session_ids: list[str]) -> list[str]:
    def one(sid: str) -> str:
        r = client.post(f"/api/v1/ai-sessions/{sid}/resolution-note/post", {"markdown": MARKDOWN}, h)
        assert r.status_code == 202, r.text
        return r.json()["job"]["id"]

    return list(pool.map(one, session_ids))


def _terminal_count(st: Stack, ids: list[uuid.UUID]) -> int:
    from db.models import Job

    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        return db.execute(select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.status.in_(TERMINAL))).scalar_one()


def _job_rows(st: Stack, ids: list[uuid.UUID]) -> list[Any]:
    from db.models import Job

    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        return list(db.execute(select(Job.status, Job.attempts, Job.created_at, Job.started_at, Job.finished_at)
                               .where(Job.id.in_(ids))).all())


def _timed_run(st: Stack, sim: CwSimulator, client: _Client, pool: ThreadPoolExecutor, h: dict[str, str],
               session_ids: list[str], latency: float, timeout: float) -> dict[str, Any]:
    sim.clear_log()
    sim.delay_s = latency
    try:
        t0 = time.perf_counter()
        job_ids = _submit(client, pool, h, session_ids)
        submitted = time.perf_counter() - t0
        ids = [uuid.UUID(j) for j in job_ids]
        polls, deadline = 0, t0 + timeout
        while True:
            polls += 1
            done = _terminal_count(st, ids)
            if done == len(ids):
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(ids) - done} of {len(ids)} writeback jobs not terminal after {timeout}s")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    finally:
        sim.delay_s = 0.0
    return {"ids": ids, "wall_s": wall, "submit_s": submitted, "polls": polls}


def _bare(sim: CwSimulator, concurrency: int, tickets: list[int], latency: float) -> float:
    """The same CW calls per job as the worker makes, from `concurrency` threads, straight at the simulator."""
    codebase = sim.state.codebase
    api = f"{sim.site_url}/{codebase}apis/3.0/service/tickets"
    auth = "Basic " + base64.b64encode(f"{DEMO_COMPANY}+{DEMO_PUBLIC}:{DEMO_PRIVATE}".encode()).decode()
    headers = {"clientId": "bench", "Accept": "application/vnd.connectwise.com+json; version=2020.4",
               "Content-Type": "application/json", "Authorization": auth}
    note = json.dumps({"text": MARKDOWN, "detailDescriptionFlag": False, "internalAnalysisFlag": False,
                       "resolutionFlag": True, "processNotifications": False}).encode()
    patch = json.dumps([{"op": "replace", "path": "status", "value": {"id": RESOLVED}}]).encode()
    fields = {"fields": "id,summary,status,board,closedFlag,_info"}
    work: queue.Queue[int] = queue.Queue()
    for t in tickets:
        work.put(t)
    errors: list[str] = []

    def run() -> None:
        s = requests.Session()
        try:
            while True:
                try:
                    t = work.get_nowait()
                except queue.Empty:
                    return
                for method, url, kw in (("POST", f"{api}/{t}/notes", {"data": note}),
                                        ("GET", f"{api}/{t}", {"params": fields}),
                                        ("PATCH", f"{api}/{t}", {"data": patch}),
                                        ("GET", f"{api}/{t}", {"params": fields})):
                    r = s.request(method, url, headers=headers, timeout=30, **kw)
                    if r.status_code >= 300:
                        errors.append(f"{method} {url}: {r.status_code}")
        finally:
            s.close()

    sim.delay_s = latency
    try:
        threads = [threading.Thread(target=run, name=f"bare-{i}") for i in range(concurrency)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t0
    finally:
        sim.delay_s = 0.0
    assert not errors, errors[:5]
    return elapsed


def _check(sim: CwSimulator, st: Stack, run: dict[str, Any], tickets: list[int]) -> dict[str, Any]:
    rows = _job_rows(st, run["ids"])
    statuses = Counter(r.status for r in rows)
    notes = Counter(len(sim.notes(t)) for t in tickets)
    resolved = sum(1 for t in tickets if sim.ticket(t)["status"]["id"] == RESOLVED)
    log = sim.request_log
    calls = Counter(f"{r.method} {r.endpoint}" for r in log)
    waits = [(r.started_at - r.created_at).total_seconds() for r in rows if r.started_at]
    runs = [(r.finished_at - r.started_at).total_seconds() for r in rows if r.started_at and r.finished_at]
    n = len(rows)
    return {
        "jobs": n,
        "statuses": dict(statuses),
        "failed": n - statuses.get("succeeded", 0),
        "retried_attempts": sum(r.attempts - 1 for r in rows if r.attempts > 1),
        "notes_per_ticket": {str(k): v for k, v in sorted(notes.items())},
        "tickets_resolved": resolved,
        "cw_calls": len(log),
        "cw_calls_by_endpoint": dict(sorted(calls.items())),
        "cw_non_2xx": sum(1 for r in log if r.status >= 300),
        "calls_per_job": len(log) / n,
        "queue_wait_p50_ms": pct(waits, 50) * 1000, "queue_wait_p95_ms": pct(waits, 95) * 1000,
        "run_p50_ms": pct(runs, 50) * 1000, "run_p95_ms": pct(runs, 95) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs-fast", type=int, default=200, help="writebacks at zero added latency")
    ap.add_argument("--jobs-slow", type=int, default=100, help="writebacks at --latency per CW call")
    ap.add_argument("--latency", type=float, default=0.2, help="added simulator latency per CW call (s)")
    ap.add_argument("--concurrency", type=int, default=8, help="worker threads (the pool's concurrency)")
    ap.add_argument("--submitters", type=int, default=8, help="parallel HTTP clients submitting writebacks")
    ap.add_argument("--timeout", type=float, default=300, help="give up on a run after this many seconds")
    args = ap.parse_args()
    c = args.concurrency
    # The PSA capacity caps (per tenant 8, global 32 by default) must not be what limits a one-tenant bench.
    caps = {"flowpilot_psa_tenant_concurrency": max(8, c), "flowpilot_psa_max_concurrency": max(32, c)}
    out: dict[str, Any] = {"concurrency": c, "latency_s": args.latency, "submitters": args.submitters, "runs": {}}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request drowns the table
    with CwSimulator() as sim, stack(**caps) as st, worker(st.settings, threads=c), _pool(args.submitters) as pool:
        t = st.tenant()
        admin, eng = t.h("admin"), t.h("engineer")
        client = _Client(st.base_url)
        r = client.post("/api/v1/psa-connections", {
            "provider": "connectwise", "site_url": sim.site_url, "company_id": DEMO_COMPANY,
            "public_key": DEMO_PUBLIC, "private_key": DEMO_PRIVATE, "client_id": "bench"}, admin)
        assert r.status_code == 201, r.text
        conn_id = r.json()["id"]
        r = st.http.patch(f"{st.base_url}/api/v1/account-settings",
                          json={"preferences": {"cw_resolved_status_id": RESOLVED}}, headers=admin)
        assert r.status_code == 200, r.text
        # Warm-up: codebase discovery (cached per process), connection pools, first-query plans.
        warm = _create_sessions(client, pool, eng, conn_id, [DEMO_TICKET])
        warm_job = _submit(client, pool, eng, warm)[0]
        assert st.wait_job(eng, warm_job)["status"] == "succeeded"

        next_ticket = 100_000
        checks_ok = True
        for label, latency, n in (("fast", 0.0, args.jobs_fast), ("slow", args.latency, args.jobs_slow)):
            tickets = list(range(next_ticket, next_ticket + n))
            next_ticket += n
            for tk in tickets:
                sim.add_ticket(tk, summary=f"bench {tk}")
            sessions = _create_sessions(client, pool, eng, conn_id, tickets)
            run = _timed_run(st, sim, client, pool, eng, sessions, latency, args.timeout)
            res = _check(sim, st, run, tickets)
            res.update(latency_s=latency, wall_s=run["wall_s"], submit_s=run["submit_s"], polls=run["polls"],
                       jobs_per_s=n / run["wall_s"], cw_wait_per_job_ms=res["calls_per_job"] * latency * 1000)
            res["run_overhead_p50_ms"] = res["run_p50_ms"] - res["cw_wait_per_job_ms"]
            if latency > 0:
                res["ideal_jobs_per_s"] = c / (res["calls_per_job"] * latency)
                res["ratio"] = res["jobs_per_s"] / res["ideal_jobs_per_s"]
            else:
                bare_tickets = list(range(next_ticket, next_ticket + n))
                next_ticket += n
                for tk in bare_tickets:
                    sim.add_ticket(tk, summary=f"bare {tk}")
                sim.clear_log()
                bare_s = _bare(sim, c, bare_tickets, 0.0)
                res["bare_s"] = bare_s
                res["bare_calls_per_job"] = len(sim.request_log) / n
                res["bare_jobs_per_s"] = n / bare_s
                res["ratio"] = res["jobs_per_s"] / res["bare_jobs_per_s"]
            ok = (res["failed"] == 0 and res["notes_per_ticket"] == {"1": n} and res["tickets_resolved"] == n)
            res["correct"] = ok
            checks_ok = checks_ok and ok
            out["runs"][label] = res

    f, s = out["runs"]["fast"], out["runs"]["slow"]
    print(table([
        ("run", "jobs", "wall s", "jobs/s", "baseline", "base jobs/s", "ratio", "calls/job", "failed", "notes/ticket"),
        ("latency 0 ms", str(f["jobs"]), f"{f['wall_s']:.2f}", f"{f['jobs_per_s']:.1f}",
         f"bare x{c} threads", f"{f['bare_jobs_per_s']:.1f}", f"{f['ratio']:.2f}", f"{f['calls_per_job']:.2f}",
         str(f["failed"]), _notes(f["notes_per_ticket"])),
        (f"latency {args.latency * 1000:.0f} ms", str(s["jobs"]), f"{s['wall_s']:.2f}", f"{s['jobs_per_s']:.1f}",
         f"ideal {c}/({s['calls_per_job']:.2f}*{args.latency:g})", f"{s['ideal_jobs_per_s']:.1f}", f"{s['ratio']:.2f}",
         f"{s['calls_per_job']:.2f}", str(s["failed"]), _notes(s["notes_per_ticket"])),
    ]))
    print()
    print(table([
        ("run", "submit s", "queue wait p50/p95 ms", "job run p50/p95 ms", "added CW ms/job", "run p50 - added",
         "CW calls by endpoint"),
        *[(label, f"{r['submit_s']:.2f}", f"{r['queue_wait_p50_ms']:.0f} / {r['queue_wait_p95_ms']:.0f}",
           f"{r['run_p50_ms']:.0f} / {r['run_p95_ms']:.0f}", f"{r['cw_wait_per_job_ms']:.0f}",
           f"{r['run_overhead_p50_ms']:.0f}",
           ", ".join(f"{k} {v}" for k, v in r["cw_calls_by_endpoint"].items()))
          for label, r in (("latency 0 ms", f), (f"latency {args.latency * 1000:.0f} ms", s))],
    ]))
    emit("writeback", out)
    if not checks_ok:
        raise SystemExit("writeback bench: failed jobs, duplicate/missing notes or unresolved tickets (see above)")


def _notes(hist: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in hist.items())


if __name__ == "__main__":
    main()
