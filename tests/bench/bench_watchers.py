"""Thousands of watchers (issue 14): parked long-polls must not starve the API, and must wake at once.

On the stock stack (realstack: gunicorn with web/gunicorn_conf.py, the stock per-tenant rate limit and wait cap;
`--server gthread` runs the serving model before issue 14 for comparison):
1. another tenant's GET /ai-sessions and GET /jobs/{id}, one request at a time: p50/p95/p99 with nothing parked;
2. park N long-polls (GET /jobs/{id}?wait=30 + If-None-Match) on N queued echo jobs, spread over several tenants
   and tokens so neither the per-token wait cap nor the tenant rate limit refuses them; web RSS before and after;
3. the same probe requests while they are parked;
4. release the worker pool (booted and warm, then SIGSTOPped before the jobs were submitted; SIGCONT now): every
   parked job runs at once; each waiter sees `running`, re-parks, sees `succeeded`. Time from the job's
   finished_at (Postgres clock, this machine) to the client holding the response.

Run: .venv/bin/python -m tests.bench.bench_watchers [--waits 2000] [--tenants 20] [--tokens 2] [--server gevent]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import threading
import time
from datetime import datetime
from typing import Any

import aiohttp
import redis
import requests

from shared.settings import Settings
from tests.bench import procstat
from tests.bench.harness import emit, pct, summary, table
from tests.bench.realstack import RealStack, real_stack

TERMINAL = ("succeeded", "failed", "cancelled")


# --------------------------------------------------------------------------- the other tenant's requests

def probe(st: RealStack, token: str, job_id: str, n: int, rate: float = 50.0) -> dict[str, dict[str, float]]:
    """n sequential requests to each endpoint (alternating), keep-alive, paced at `rate` requests/s (under the
    tenant rate limit), as a few busy browser tabs would send them."""
    http = requests.Session()
    h = {"Authorization": f"Bearer {token}"}
    urls = {"GET /ai-sessions": f"{st.base_url}/api/v1/ai-sessions?limit=20",
            "GET /jobs/{id}": f"{st.base_url}/api/v1/jobs/{job_id}"}
    samples: dict[str, list[float]] = {k: [] for k in urls}
    for url in urls.values():  # warm the connection
        http.get(url, headers=h).raise_for_status()
    next_at = time.perf_counter()
    for _ in range(n):
        for name, url in urls.items():
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.perf_counter()))
            t0 = time.perf_counter()
            r = http.get(url, headers=h)
            samples[name].append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"{name} -> {r.status_code}: {r.text[:200]}")
    return {k: summary(v) for k, v in samples.items()}


# --------------------------------------------------------------------------- the watchers

class Watchers:
    """N long-poll loops in one asyncio event loop (its own thread): park, re-park on 304 or a non-final change."""

    def __init__(self, base_url: str, jobs: list[tuple[str, str]]) -> None:
        self.base_url = base_url
        self.jobs = jobs  # (job id, token)
        self.seen_final: dict[str, float] = {}  # job id -> wall clock when the client held the final response
        self.seen_running: dict[str, float] = {}  # job id -> when it held a `running` answer (if it saw one)
        self.final_body: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._done: Any = None

    async def _watch(self, session: aiohttp.ClientSession, job_id: str, token: str, ramp_s: float) -> None:
        await asyncio.sleep(ramp_s)
        h = {"Authorization": f"Bearer {token}"}
        url = f"{self.base_url}/api/v1/jobs/{job_id}"
        etag: str | None = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            headers = dict(h, **({"If-None-Match": etag} if etag else {}))
            try:
                async with session.get(url + ("?wait=30" if etag else ""), headers=headers) as r:
                    self.requests += 1
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if r.status == 304:
                        continue
                    if r.status == 429:  # refused by a cap: honour Retry-After
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                        continue
                    body = await r.json()
                    now = time.time()
                    if r.status != 200:
                        raise RuntimeError(f"{r.status}: {body}")
                    etag = r.headers["ETag"]
                    if body["status"] == "running":
                        self.seen_running.setdefault(job_id, now)
                    if body["status"] in TERMINAL:
                        self.seen_final[job_id] = now
                        self.final_body[job_id] = body
                        return
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
        self.errors.append(f"job {job_id} not final after 300 s")

    async def _run(self, ramp_s: float) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            n = len(self.jobs)
            await asyncio.gather(*(self._watch(session, job_id, token, ramp_s * i / n)
                                   for i, (job_id, token) in enumerate(self.jobs)))

    def start(self, ramp_s: float) -> None:
        self._thread.start()
        self._done = asyncio.run_coroutine_threadsafe(self._run(ramp_s), self.loop)

    def join(self, timeout: float) -> None:
        self._done.result(timeout=timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class Notifications:
    """When each job's change notifications reached a subscriber in this process (as they reach the web's)."""

    def __init__(self, url: str, namespace: str) -> None:
        self.prefix = f"{namespace}:job-changed:"
        self.pubsub = redis.Redis.from_url(url).pubsub()
        self.pubsub.psubscribe(self.prefix + "*")
        self.last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.5)
            if message and message["type"] == "pmessage":
                self.last[message["channel"].decode()[len(self.prefix):]] = time.time()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pubsub.close()


def parked(client: redis.Redis, namespace: str) -> int:
    """Waits counted by the per-token cap right now (shared/jobs/wait_cap.py): the parked long-polls."""
    now = int(time.time() * 1000)
    return sum(int(client.zcount(k, now, "+inf")) for k in client.scan_iter(f"{namespace}:waits:*", count=1000))


async def _submit_all(base_url: str, admin_tokens: list[str], per_tenant: int,
                      concurrency: int = 16) -> list[list[str]]:
    """POST /jobs `per_tenant` times for each tenant, tenants interleaved (each stays under its rate limit)."""
    ids: list[list[str]] = [[] for _ in admin_tokens]
    queue = [t for _ in range(per_tenant) for t in range(len(admin_tokens))]
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def one(t: int) -> None:
            async with sem:
                for _ in range(20):
                    async with session.post(f"{base_url}/api/v1/jobs", json={"kind": "system.echo"},
                                            headers={"Authorization": f"Bearer {admin_tokens[t]}"}) as r:
                        if r.status == 429:
                            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                            continue
                        if r.status != 202:
                            raise RuntimeError(f"POST /jobs -> {r.status}: {await r.text()}")
                        ids[t].append((await r.json())["job"]["id"])
                        return

        await asyncio.gather(*(one(t) for t in queue))
    return ids


def rss(st: RealStack) -> dict[int, float]:
    return {pid: procstat.rss_mb(pid) for pid in st.web_pids()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--waits", type=int, default=2000)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=2, help="engineer tokens per tenant holding the waits")
    ap.add_argument("--probe", type=int, default=250, help="requests per endpoint and phase (50 requests/s)")
    ap.add_argument("--ramp", type=float, default=6.0, help="seconds over which the waits are opened")
    ap.add_argument("--server", choices=("gevent", "gthread"), default="gevent")
    ap.add_argument("--web-threads", type=int, default=16, help="gthread only")
    ap.add_argument("--worker-nice", type=int, default=0, help="CPU priority of the interactive pool (see lowprio)")
    args = ap.parse_args(argv)
    stock = Settings()
    with real_stack(start=False, server=args.server, web_threads=args.web_threads,
                    flowpilot_tenant_rate_limit=stock.flowpilot_tenant_rate_limit,
                    flowpilot_max_waits_per_token=stock.flowpilot_max_waits_per_token) as st:
        st.start_web()
        st.start_workers(dramatiq_worker_timeout="100", nice=args.worker_nice)
        r = redis.Redis.from_url(st.settings.redis_url)
        ns = st.settings.flowpilot_redis_namespace
        watchers = [st.tenant(f"Watchers {i}", engineers=args.tokens) for i in range(args.tenants)]
        other = st.tenant("Other MSP")
        eng = {"Authorization": f"Bearer {other.tokens['engineer']}"}
        for i in range(25):
            requests.post(f"{st.base_url}/api/v1/ai-sessions", headers=eng,
                          json={"intake_type": "free_text", "intake_content": {"problem": f"probe {i}"}}).raise_for_status()
        probe_job = requests.post(f"{st.base_url}/api/v1/jobs", json={"kind": "system.echo"},
                                  headers={"Authorization": f"Bearer {other.tokens['admin']}"}).json()["job"]["id"]
        while st.count_jobs("succeeded") < 1:  # the workers have booted and run a job: now hold them
            time.sleep(0.1)
        os.killpg(st.workers.pid, signal.SIGSTOP)  # type: ignore[union-attr]

        per_tenant = args.waits // args.tenants
        per_token = -(-per_tenant // args.tokens)
        by_tenant = asyncio.run(_submit_all(st.base_url, [t.tokens["admin"] for t in watchers], per_tenant))
        jobs = [(job_id, t.tokens["engineer" if i // per_token == 0 else f"engineer{i // per_token + 1}"])
                for t, ids in zip(watchers, by_tenant, strict=True) for i, job_id in enumerate(ids)]
        print(f"{len(jobs)} queued jobs, {args.tenants} tenants x {args.tokens} tokens x {per_token} waits", flush=True)

        meter = procstat.CpuMeter(st.cpu_groups()).start()
        t0 = time.perf_counter()
        idle = probe(st, other.tokens["engineer"], probe_job, args.probe)
        idle_cpu = meter.stop(time.perf_counter() - t0)
        rss_before = rss(st)

        w = Watchers(st.base_url, jobs)
        w.start(args.ramp)
        deadline = time.monotonic() + args.ramp + 30
        while (n_parked := parked(r, ns)) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(1.0)
        n_parked = parked(r, ns)
        rss_after = rss(st)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        t0 = time.perf_counter()
        busy = probe(st, other.tokens["engineer"], probe_job, args.probe)
        busy_cpu = meter.stop(time.perf_counter() - t0)
        still_parked = parked(r, ns)
        print(f"parked {n_parked} (during the probe's end: {still_parked})", flush=True)

        notes = Notifications(st.settings.redis_url, ns)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        t0 = time.perf_counter()
        os.killpg(st.workers.pid, signal.SIGCONT)  # type: ignore[union-attr]
        w.join(timeout=300)
        wall = time.perf_counter() - t0
        done_cpu = meter.stop(wall)
        notes.stop()

    to_running = []
    for job_id, seen in w.seen_running.items():
        started = (w.final_body.get(job_id) or {}).get("started_at")
        if started:
            to_running.append(seen - datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp())
    lat, to_note, note_to_seen = [], [], []
    for job_id, seen in w.seen_final.items():
        fin = w.final_body[job_id].get("finished_at")
        if fin:
            finished_at = datetime.fromisoformat(fin.replace("Z", "+00:00")).timestamp()
            lat.append(seen - finished_at)
            if job_id in notes.last:  # the last notification of a job is its `succeeded` one
                to_note.append(notes.last[job_id] - finished_at)
                note_to_seen.append(seen - notes.last[job_id])
    finished = sorted(datetime.fromisoformat(b["finished_at"].replace("Z", "+00:00")).timestamp()
                      for b in w.final_body.values() if b.get("finished_at"))
    spread = finished[-1] - finished[0] if finished else 0.0
    before_mb, after_mb = sum(rss_before.values()), sum(rss_after.values())
    result = {
        "config": vars(args), "parked": n_parked, "parked_at_probe_end": still_parked,
        "idle": idle, "parked_probe": busy, "idle_cpu": idle_cpu, "parked_cpu": busy_cpu,
        "rss_before_mb": rss_before, "rss_after_mb": rss_after,
        "kb_per_parked_wait": (after_mb - before_mb) * 1024 / max(1, n_parked),
        "completion": {"jobs": len(jobs), "final_seen": len(lat), "finish_spread_s": spread, "wall_s": wall,
                       "finished_to_response": {"n": len(lat), "p50_ms": pct(lat, 50) * 1000 if lat else None,
                                                "p95_ms": pct(lat, 95) * 1000 if lat else None,
                                                "p99_ms": pct(lat, 99) * 1000 if lat else None,
                                                "mean_ms": statistics.fmean(lat) * 1000 if lat else None},
                       "started_to_running_seen": summary(to_running) if to_running else None,
                       "finished_to_notification": summary(to_note) if to_note else None,
                       "notification_to_response": summary(note_to_seen) if note_to_seen else None,
                       "cpu": done_cpu},
        "load_average": os.getloadavg(), "watcher_requests": w.requests, "watcher_statuses": w.statuses, "errors": len(w.errors),
        "error_samples": w.errors[:5],
    }
    rows: list[tuple[str, ...]] = [("measure", "idle", f"{n_parked} parked", "ratio")]
    for name in idle:
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            a, b = idle[name][p], busy[name][p]
            rows.append((f"{name} {p[:-3]}", f"{a:.2f} ms", f"{b:.2f} ms", f"{b / a:.2f}"))
    rows.append(("web RSS (all workers)", f"{before_mb:.1f} MB", f"{after_mb:.1f} MB",
                 f"{result['kb_per_parked_wait']:.1f} KB per parked wait"))
    rows.append(("steal during the probe (cores)", f"{idle_cpu['machine_cores_stolen']:.2f}",
                 f"{busy_cpu['machine_cores_stolen']:.2f}", ""))
    c = result["completion"]["finished_to_response"]
    rows.append(("finished_at -> waiter holds the response", f"p50 {c['p50_ms'] or 0:.1f} ms",
                 f"p95 {c['p95_ms'] or 0:.1f} ms", f"p99 {c['p99_ms'] or 0:.1f} ms; n={c['n']}; jobs finished over "
                                                      f"{spread:.1f} s"))
    for label, key in (("  of which finished_at -> notification", "finished_to_notification"),
                       ("  of which notification -> response", "notification_to_response")):
        part = result["completion"][key]
        if part:
            rows.append((label, f"p50 {part['p50_ms']:.1f} ms", f"p95 {part['p95_ms']:.1f} ms", f"n={part['n']}"))
    if to_running:
        r2 = result["completion"]["started_to_running_seen"]
        rows.append(("started_at -> waiter holds `running`", f"p50 {r2['p50_ms']:.1f} ms", f"p95 {r2['p95_ms']:.1f} ms",
                     f"n={r2['n']}"))
    print(table(rows))
    print(f"watcher requests {w.requests} {w.statuses}; errors {len(w.errors)} {w.errors[:3]}")
    print(table(procstat.cpu_table_rows(done_cpu, per=len(jobs))))
    emit("watchers" if args.server == "gevent" and args.web_threads == 16 else f"watchers-{args.server}", result)
    return result


if __name__ == "__main__":
    main()
