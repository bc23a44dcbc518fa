"""The job pipeline beside raw Dramatiq, on the deployment's real processes.

Phases (one run, one Redis, one Postgres, one machine):
1. raw baseline: Dramatiq alone (no HTTP, no Postgres) — N no-op messages sent to a RedisBroker on the same
   Redis (own namespace), then processed by a `dramatiq.Worker` in this process with the same total thread
   count as the pipeline's workers (P x T). Also the same no-op actor under `python -m dramatiq` with the
   pipeline's P processes x T threads (same topology as the pipeline's workers).
2. end to end: gunicorn (gthread, W x 16) + `python -m dramatiq workers.main -p P -t T` subprocesses on a
   throwaway database. C client threads (one requests.Session each) submit `system.echo` jobs over HTTP and
   long-poll each (`?wait=10` + If-None-Match) to `succeeded`: jobs/s, per-job latency, ratio to the raw
   baselines, and CPU seconds per job of every component (what the 2 cores were spent on).
3. long-poll notification delay: jobs with `delay_ms` so the client is surely parked in a long-poll when the
   job finishes; delay = client receive time - the job's `finished_at` (Postgres now() of the completing
   transaction; same machine clock).
4. polling: 200 concurrent pollers (threads) on `GET /jobs/{id}` of finished jobs for a bounded time, without
   and with If-None-Match (200 vs 304 path): p50/p99 and requests/s.
5. worker RSS: jobs are submitted (POST only, open loop) until 10,000 have succeeded in total; the dramatiq
   worker processes' RSS is sampled throughout and reported at boot, after warm-up, at 1k and at 10k jobs,
   against a stated bound (growth from 1k to 10k jobs < 20 MB per process).

No timed assertions: figures are printed and written to tests/bench/results/pipeline.json.

Run: .venv/bin/python -m tests.bench.bench_pipeline [--jobs 2000] [--clients 24] [--processes 2] [--threads 8]
       [--pollers 200] [--poll-seconds 10] [--notify-jobs 100] [--rss-jobs 10000] [--raw-messages 5000]
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import redis
import requests

from tests.bench import procstat
from tests.bench.harness import emit, pct, table
from tests.bench.raw_actor import QUEUE, declare_noop, make_broker
from tests.bench.realstack import ROOT, RealStack, real_stack
from tests.conftest import ADMIN_URL, REDIS_URL

TERMINAL = ("succeeded", "failed", "cancelled")
RSS_BOUND_MB = 20.0


def _ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50_ms": pct(samples, 50) * 1000, "p95_ms": pct(samples, 95) * 1000,
            "p99_ms": pct(samples, 99) * 1000, "max_ms": max(samples) * 1000}


# ----------------------------------------------------------------------------------------------- raw baseline
def _drain(client: redis.Redis, key: str, n: int, timeout: float, on_window: Any = None) -> tuple[int, float, float]:
    """Poll the queue's message hash (a message leaves it when acked) until it is empty.

    The timed window starts once 5% of the messages are done, so worker start-up is not counted against the rate.
    Returns (messages processed in the window, window seconds, seconds since the call).
    """
    t_start = time.perf_counter()
    t_a: float | None = None
    left_a = 0
    while True:
        left = int(client.hlen(key))
        now = time.perf_counter()
        if t_a is None and left <= n * 0.95:
            t_a, left_a = now, left
            if on_window is not None:
                on_window()
        if left == 0:
            assert t_a is not None
            return left_a, now - t_a, now - t_start
        if now - t_start > timeout:
            raise TimeoutError(f"raw baseline: {left} of {n} messages still queued after {timeout}s")
        time.sleep(0.002)


def raw_baseline(n: int, processes: int, threads: int, *, in_process: bool, sleep_ms: int = 0) -> dict[str, Any]:
    """N no-op messages: sent (one producer thread), then processed by P*T worker threads."""
    ns = f"fpraw-{uuid.uuid4().hex[:6]}"
    broker = make_broker(REDIS_URL, ns)
    actor = declare_noop(broker)
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{ns}:{QUEUE}.msgs"
    redis_port = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))
    proc: subprocess.Popen[bytes] | None = None
    worker: Any = None
    try:
        t0 = time.perf_counter()
        for i in range(n):
            actor.send(i, sleep_ms) if sleep_ms else actor.send(i)
        send_s = time.perf_counter() - t0
        groups: dict[str, Any] = {"redis-server": lambda: procstat.redis_servers(redis_port)}
        if in_process:
            from dramatiq import Worker

            groups["dramatiq (this process)"] = lambda: [os.getpid()]
            worker = Worker(broker, worker_threads=processes * threads)
            worker.start()
        else:
            env = {**os.environ, "FPBENCH_RAW_REDIS_URL": REDIS_URL, "FPBENCH_RAW_NAMESPACE": ns}
            proc = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "tests.bench.raw_actor", "--processes", str(processes),
                 "--threads", str(threads), "--queues", QUEUE], cwd=ROOT, env=env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            groups["dramatiq (workers)"] = lambda: procstat.tree(proc.pid)  # type: ignore[union-attr]
        meter = procstat.CpuMeter(groups)
        try:
            processed, window, total = _drain(client, key, n, timeout=600, on_window=meter.start)
        finally:
            if worker is not None:
                worker.stop()
        cpu = meter.stop(window)
        return {"messages": n, "sleep_ms": sleep_ms, "processes": 1 if in_process else processes,
                "threads_total": processes * threads,
                "send_s": send_s, "send_per_s": n / send_s, "window_messages": processed, "window_s": window,
                "total_s": total, "messages_per_s": processed / window if window else 0.0, "cpu": cpu,
                "cpu_ms_per_message": {k: v * 1000 / max(1, processed) for k, v in cpu.items()
                                       if k not in ("wall_s", "machine_cores_busy")}}
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        broker.close()
        keys = list(client.scan_iter(f"{ns}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# ----------------------------------------------------------------------------------------------- HTTP client
class Api:
    """One requests.Session per client thread (keep-alive, like a real poller)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.h = {"Authorization": f"Bearer {token}"}
        self._local = threading.local()
        self._lock = threading.Lock()
        self.retries = 0

    @property
    def s(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s

    def submit(self, i: int, delay_ms: int = 0) -> dict[str, Any]:  # noqa: D102
        body: dict[str, Any] = {"kind": "system.echo", "payload": {"i": i}}
        if delay_ms:
            body["delay_ms"] = delay_ms
        r = self.s.post(f"{self.base_url}/api/v1/jobs", json=body, headers=self.h, timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"POST /jobs -> {r.status_code}: {r.text[:200]}")
        job: dict[str, Any] = r.json()["job"]
        return job

    def get(self, job_id: str, etag: str | None = None, wait: int = 0) -> requests.Response:
        """GET is idempotent: a request on a keep-alive connection the server just closed (gunicorn's
        keep-alive is 2 s) is retried on a new connection, as any HTTP client would; retries are counted."""
        h = dict(self.h, **({"If-None-Match": etag} if etag else {}))
        url = f"{self.base_url}/api/v1/jobs/{job_id}" + (f"?wait={wait}" if wait else "")
        for attempt in range(3):
            try:
                return self.s.get(url, headers=h, timeout=60)
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                with self._lock:
                    self.retries += 1
        raise AssertionError("unreachable")

    def wait_done(self, job: dict[str, Any], timeout: float = 120) -> tuple[dict[str, Any], int]:
        """Long-poll to a terminal state: ?wait=10 and If-None-Match once we hold an ETag. Returns (body, GETs)."""
        etag: str | None = None
        body, gets = job, 0
        deadline = time.monotonic() + timeout
        while body["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job['id']} still {body['status']}")
            r = self.get(job["id"], etag, wait=10)
            gets += 1
            if r.status_code == 304:
                continue
            if r.status_code != 200:
                raise RuntimeError(f"GET /jobs -> {r.status_code}: {r.text[:200]}")
            body, etag = r.json(), r.headers["ETag"]
        return body, gets


def closed_loop(api: Api, n: int, clients: int, start: int = 0, delay_ms: int = 0) -> dict[str, Any]:
    """C clients, each: submit a job, long-poll it to succeeded, repeat; until N jobs are done."""
    counter = itertools.count(start)
    end = start + n
    lock = threading.Lock()
    lat: list[float] = []
    gets: list[int] = []
    ids: list[str] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        barrier.wait()
        while True:
            with lock:
                i = next(counter)
            if i >= end:
                return
            t0 = time.perf_counter()
            try:
                body, g = api.wait_done(api.submit(i, delay_ms))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                gets.append(g)
                ids.append(body["id"])
                statuses[body["status"]] = statuses.get(body["status"], 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"jobs": n, "clients": clients, "wall_s": wall, "jobs_per_s": len(lat) / wall, "latency": _ms(lat),
            "gets_per_job": sum(gets) / max(1, len(gets)), "statuses": statuses, "errors": len(errors),
            "error_samples": errors[:5], "ids": ids}


# ----------------------------------------------------------------------------------------------- notification delay
def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def idle_in_transaction(db_name: str, stop: threading.Event, out: dict[str, Any]) -> None:
    """Sample pg_stat_activity: connections of the bench database idle in a transaction for > 100 ms."""
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    peak, age = 0, 0.0
    try:
        with conn.cursor() as cur:
            while not stop.wait(0.1):
                cur.execute("SELECT count(*), coalesce(max(extract(epoch FROM now() - state_change)), 0) "
                            "FROM pg_stat_activity WHERE datname = %s AND state = 'idle in transaction' "
                            "AND now() - state_change > interval '100 milliseconds'", (db_name,))
                n, a = cur.fetchone()
                peak, age = max(peak, int(n)), max(age, float(a))
    finally:
        conn.close()
    out.update({"peak_idle_in_transaction": peak, "max_idle_in_transaction_s": age})


def notify_delay(api: Api, m: int, clients: int, delay_ms: int, db_name: str | None = None) -> dict[str, Any]:
    """Jobs that sleep delay_ms, so their client is parked in a long-poll when they finish.

    Meanwhile pg_stat_activity is sampled: a parked long-poll should not hold a connection idle in a transaction.
    """
    counter = itertools.count()
    lock = threading.Lock()
    done_delay: list[float] = []
    run_delay: list[float] = []
    queue_wait: list[float] = []
    excluded = 0

    def client() -> None:
        nonlocal excluded
        while True:
            with lock:
                i = next(counter)
            if i >= m:
                return
            job = api.submit(1_000_000 + i, delay_ms=delay_ms)
            etag: str | None = None
            status = job["status"]
            seen_running = False
            while status not in TERMINAL:
                sent = time.time()
                r = api.get(job["id"], etag, wait=10)
                recv = time.time()
                if r.status_code == 304:
                    continue
                body, etag = r.json(), r.headers["ETag"]
                status = body["status"]
                if status == "running" and not seen_running and body.get("started_at"):
                    seen_running = True
                    started = _ts(body["started_at"])
                    if sent < started:  # we were parked before the claim committed
                        with lock:
                            run_delay.append(recv - started)
                if status == "succeeded":
                    finished = _ts(body["finished_at"])
                    with lock:
                        queue_wait.append(_ts(body["started_at"]) - _ts(body["created_at"]))
                        if sent < finished:
                            done_delay.append(recv - finished)
                        else:
                            excluded += 1

    idle: dict[str, Any] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=idle_in_transaction, args=(db_name, stop, idle), daemon=True) if db_name else None
    if watcher is not None:
        watcher.start()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if watcher is not None:
        watcher.join()
    return {"jobs": m, "clients": clients, "delay_ms": delay_ms, "succeeded_seen": _ms(done_delay), **idle,
            "running_seen": _ms(run_delay), "queue_wait": _ms(queue_wait), "excluded_not_parked": excluded}


# ----------------------------------------------------------------------------------------------- pollers
def pollers(api: Api, ids: list[str], n: int, seconds: float, inm: bool) -> dict[str, Any]:
    """n threads, each GETting one finished job in a loop for `seconds` (with its ETag when inm)."""
    per_thread: list[list[float]] = [[] for _ in range(n)]
    codes: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)
    stop_at = [0.0]

    def poller(k: int) -> None:
        job_id = ids[k % len(ids)]
        etag = api.get(job_id).headers["ETag"] if inm else None
        api.get(job_id, etag)  # connection warm
        barrier.wait()
        out = per_thread[k]
        local: dict[int, int] = {}
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            r = api.get(job_id, etag)
            out.append(time.perf_counter() - t0)
            local[r.status_code] = local.get(r.status_code, 0) + 1
        with lock:
            for c, v in local.items():
                codes[c] = codes.get(c, 0) + v

    threads = [threading.Thread(target=poller, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 3600
    barrier.wait()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = [x for xs in per_thread for x in xs]
    return {"pollers": n, "seconds": wall, "if_none_match": inm, "requests": len(lat),
            "requests_per_s": len(lat) / wall, "codes": {str(k): v for k, v in codes.items()}, "latency": _ms(lat)}


# ----------------------------------------------------------------------------------------------- RSS
class RssSampler:
    """Every `every` s: jobs succeeded so far, and the RSS of each worker and web process."""

    def __init__(self, st: RealStack, every: float = 1.0) -> None:
        self.st = st
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self, label: str = "") -> dict[str, Any]:
        s = {"t": time.time(), "label": label, "succeeded": self.st.count_jobs("succeeded"),
             "workers": {p: procstat.rss_mb(p) for p in self.st.worker_pids()},
             "web": {p: procstat.rss_mb(p) for p in self.st.web_pids()}}
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a missed sample is fine
                pass

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, jobs: int) -> dict[str, Any] | None:
        for s in self.samples:
            if s["succeeded"] >= jobs:
                return s
        return None


def open_loop(st: RealStack, api: Api, n: int, clients: int, start: int, delay_ms: int = 0) -> dict[str, Any]:
    """POST n jobs (no polling) from C threads as fast as the API takes them; wall until all n have succeeded."""
    base = st.count_jobs("succeeded")
    counter = itertools.count()
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(counter)
            if i >= n:
                return
            api.submit(start + i, delay_ms)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submit_s = time.perf_counter() - t0
    deadline = time.monotonic() + 900
    while st.count_jobs("succeeded") < base + n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"open loop: {st.status_counts()}")
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    return {"jobs": n, "clients": clients, "delay_ms": delay_ms, "submit_s": submit_s, "wall_s": wall,
            "jobs_per_s": n / wall}


def bulk_until(st: RealStack, api: Api, target: int, clients: int, start: int) -> dict[str, Any]:
    """Open loop: POST jobs (no polling) from C threads until `target` jobs exist, then wait for them."""
    have = st.count_jobs()
    todo = max(0, target - have)
    counter = itertools.count()
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(counter)
            if i >= todo:
                return
            api.submit(start + i)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submit_s = time.perf_counter() - t0
    deadline = time.monotonic() + 900
    while st.count_jobs("succeeded") < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"bulk: {st.status_counts()}")
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    return {"jobs": todo, "clients": clients, "submit_s": submit_s, "submit_per_s": todo / submit_s if submit_s else 0,
            "wall_s": wall, "jobs_per_s": todo / wall if wall else 0}


# ----------------------------------------------------------------------------------------------- machine
def machine_extra() -> dict[str, Any]:
    import psycopg2

    info: dict[str, Any] = {"load_avg_at_start": os.getloadavg()}
    try:
        mem = {ln.split(":")[0]: ln.split()[1] for ln in open("/proc/meminfo")}
        info["ram_gb"] = round(int(mem["MemTotal"]) / 2**20, 1)
    except OSError:
        pass
    try:
        cpu = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        info["cpu_model"] = cpu[0] if cpu else platform.processor()
    except OSError:
        pass
    try:
        conn = psycopg2.connect(ADMIN_URL)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            info["postgres"] = cur.fetchone()[0]
            cur.execute("SHOW synchronous_commit")
            info["postgres_synchronous_commit"] = cur.fetchone()[0]
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    try:
        info["redis"] = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    except Exception:  # noqa: BLE001
        pass
    import dramatiq
    import gunicorn

    info["dramatiq"] = dramatiq.__version__
    info["gunicorn"] = gunicorn.__version__
    return info


# ----------------------------------------------------------------------------------------------- main
def _f(x: float, nd: int = 1) -> str:
    return f"{x:.{nd}f}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    extra = machine_extra()
    P, T = args.processes, args.threads
    print(f"[pipeline] raw baseline: {args.raw_messages} no-op messages, {P * T} threads in-process", flush=True)
    raw_in = raw_baseline(args.raw_messages, P, T, in_process=True)
    print(f"[pipeline] raw baseline: the same under `python -m dramatiq` -p {P} -t {T}", flush=True)
    raw_proc = raw_baseline(args.raw_messages, P, T, in_process=False)
    raw_work: dict[str, Any] | None = None
    if args.work_jobs:
        print(f"[pipeline] raw baseline with work: {args.work_jobs} messages sleeping {args.work_ms} ms", flush=True)
        raw_work = raw_baseline(args.work_jobs, P, T, in_process=True, sleep_ms=args.work_ms)

    worker_env = {"dramatiq_worker_timeout": str(args.worker_timeout_ms)} if args.worker_timeout_ms else {}
    with real_stack(processes=P, threads=T, web_workers=args.web_workers, web_threads=args.web_threads,
                    log_level=args.log_level, worker_env=worker_env) as st:
        t = st.tenant()
        api = Api(st.base_url, t.tokens["admin"])
        sampler = RssSampler(st)
        sampler.sample("boot")
        sampler.start()
        print(f"[pipeline] stack up at {st.base_url}; warm-up {args.warmup} jobs", flush=True)
        closed_loop(api, args.warmup, args.clients, start=0)
        sampler.sample("after warm-up")

        print(f"[pipeline] end to end: {args.jobs} jobs, {args.clients} clients", flush=True)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        e2e = closed_loop(api, args.jobs, args.clients, start=args.warmup)
        e2e["cpu"] = meter.stop(e2e["wall_s"])
        ids = e2e.pop("ids")

        e2e_work: dict[str, Any] | None = None
        if args.work_jobs:
            print(f"[pipeline] equal work, open loop: {args.work_jobs} jobs of delay_ms={args.work_ms}", flush=True)
            meter = procstat.CpuMeter(st.cpu_groups()).start()
            e2e_work = open_loop(st, api, args.work_jobs, args.clients, start=5_000_000, delay_ms=args.work_ms)
            e2e_work["cpu"] = meter.stop(e2e_work["wall_s"])

        print(f"[pipeline] notification delay: {args.notify_jobs} jobs of {args.notify_delay_ms} ms", flush=True)
        notify = notify_delay(api, args.notify_jobs, args.notify_clients, args.notify_delay_ms, st.db_name)

        polls: dict[str, Any] = {}
        for inm in (False, True):
            label = "if_none_match" if inm else "plain"
            print(f"[pipeline] polling: {args.pollers} pollers x {args.poll_seconds}s ({label})", flush=True)
            meter = procstat.CpuMeter(st.cpu_groups()).start()
            polls[label] = pollers(api, ids, args.pollers, args.poll_seconds, inm)
            polls[label]["cpu"] = meter.stop(polls[label]["seconds"])

        print(f"[pipeline] RSS: submitting until {args.rss_jobs} jobs have succeeded", flush=True)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        bulk = bulk_until(st, api, args.rss_jobs, args.clients, start=10_000_000)
        bulk["cpu"] = meter.stop(bulk["wall_s"])
        sampler.stop()
        final = sampler.sample("final")
        statuses = st.status_counts()

    # ---- RSS report
    pids = sorted(final["workers"])
    milestones = [("boot", sampler.samples[0]), ("after warm-up", next(s for s in sampler.samples if s["label"] == "after warm-up")),
                  ("1k jobs", sampler.at(1000)), (f"{args.rss_jobs // 1000}k jobs", final)]
    rss_rows: list[tuple[str, ...]] = [("sample", "jobs succeeded", *[f"worker {p} MB" for p in pids],
                                        *[f"web {p} MB" for p in sorted(final["web"])])]
    for name, s in milestones:
        if s is None:
            continue
        rss_rows.append((name, str(s["succeeded"]), *[_f(s["workers"].get(p, 0.0)) for p in pids],
                         *[_f(s["web"].get(p, 0.0)) for p in sorted(final["web"])]))
    s1k = sampler.at(1000) or sampler.samples[0]
    growth = {str(p): final["workers"].get(p, 0.0) - s1k["workers"].get(p, 0.0) for p in pids}
    web_growth = {str(p): final["web"].get(p, 0.0) - s1k["web"].get(p, 0.0) for p in final["web"]}
    within = all(g < RSS_BOUND_MB for g in growth.values())

    # ---- tables
    e2e_rate = e2e["jobs_per_s"]
    rows: list[tuple[str, ...]] = [
        ("measure", "n", "rate /s", "p50 ms", "p95 ms", "p99 ms", "ratio"),
        (f"raw Dramatiq, in-process Worker ({P * T} threads)", str(raw_in["messages"]),
         _f(raw_in["messages_per_s"]), "", "", "", "1.00"),
        (f"raw Dramatiq, dramatiq CLI -p {P} -t {T}", str(raw_proc["messages"]), _f(raw_proc["messages_per_s"]),
         "", "", "", _f(raw_proc["messages_per_s"] / raw_in["messages_per_s"], 2)),
        ("  raw send (1 producer thread)", str(raw_in["messages"]), _f(raw_in["send_per_s"]), "", "", "", ""),
        (f"end to end, {args.clients} HTTP clients (submit+long-poll)", str(e2e["jobs"]), _f(e2e_rate),
         _f(e2e["latency"]["p50_ms"]), _f(e2e["latency"]["p95_ms"]), _f(e2e["latency"]["p99_ms"]),
         _f(e2e_rate / raw_in["messages_per_s"], 3)),
        ("  ratio to raw under the dramatiq CLI (same topology)", "", "", "", "", "",
         _f(e2e_rate / raw_proc["messages_per_s"], 3)),
        (f"  HTTP requests per job: 1 POST + {e2e['gets_per_job']:.2f} GET (long-polls)", "", "", "", "", "", ""),
        (f"open loop: POST only, {args.clients} clients (RSS phase)", str(bulk["jobs"]), _f(bulk["jobs_per_s"]),
         "", "", "", _f(bulk["jobs_per_s"] / raw_in["messages_per_s"], 3)),
    ]
    if raw_work is not None and e2e_work is not None:
        rows.append((f"raw Dramatiq, actor sleeping {args.work_ms} ms ({P * T} threads)", str(raw_work["messages"]),
                     _f(raw_work["messages_per_s"]), "", "", "", "1.00"))
        rows.append((f"pipeline, echo delay_ms={args.work_ms}, open loop (POST only)", str(e2e_work["jobs"]),
                     _f(e2e_work["jobs_per_s"]), "", "", "", _f(e2e_work["jobs_per_s"] / raw_work["messages_per_s"], 3)))
    for p in polls.values():
        rows.append((f"GET /jobs/{{id}}, {p['pollers']} pollers, {'If-None-Match (304)' if p['if_none_match'] else 'plain (200)'}",
                     str(p["requests"]), _f(p["requests_per_s"]), _f(p["latency"]["p50_ms"]),
                     _f(p["latency"]["p95_ms"]), _f(p["latency"]["p99_ms"]), ""))
    nd = notify["succeeded_seen"]
    rd = notify["running_seen"]
    rows.append(("long-poll: finished_at -> client sees succeeded", str(nd["n"]), "", _f(nd.get("p50_ms", 0)),
                 _f(nd.get("p95_ms", 0)), _f(nd.get("p99_ms", 0)), ""))
    if rd["n"]:
        rows.append(("long-poll: started_at -> client sees running", str(rd["n"]), "", _f(rd["p50_ms"]),
                     _f(rd["p95_ms"]), _f(rd["p99_ms"]), ""))
    if "peak_idle_in_transaction" in notify:
        rows.append((f"  Postgres connections idle in transaction (> 100 ms) while {args.notify_clients} clients "
                     "long-poll: peak", str(notify["peak_idle_in_transaction"]), "",
                     f"max {notify['max_idle_in_transaction_s'] * 1000:.0f} ms", "", "", ""))
    qw = notify["queue_wait"]
    rows.append(("  same jobs, created_at -> started_at (queue wait)", str(qw["n"]), "", _f(qw["p50_ms"]),
                 _f(qw["p95_ms"]), _f(qw["p99_ms"]), ""))
    print()
    print(table(rows))
    print()
    print(f"CPU per end-to-end job ({e2e['jobs']} jobs in {e2e['wall_s']:.1f} s):")
    print(table(procstat.cpu_table_rows(e2e["cpu"], per=e2e["jobs"])))
    print()
    print("CPU per raw message (in-process Worker): " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in raw_in["cpu_ms_per_message"].items()))
    print("CPU per raw message (dramatiq CLI):      " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in raw_proc["cpu_ms_per_message"].items()))
    for label, p in polls.items():
        print(f"\nCPU per GET ({label}, {p['requests']} requests):")
        print(table(procstat.cpu_table_rows(p["cpu"], per=p["requests"], per_label="request")))
    print()
    print(f"Worker RSS (bound: growth from 1k to {args.rss_jobs} jobs < {RSS_BOUND_MB:.0f} MB per worker process):")
    print(table(rss_rows))
    print("growth 1k -> final, MB: workers " + ", ".join(f"{p}: {g:+.1f}" for p, g in growth.items())
          + "; web " + ", ".join(f"{p}: {g:+.1f}" for p, g in web_growth.items())
          + f"  -> {'within' if within else 'OUTSIDE'} the bound")
    print(f"job statuses at the end: {statuses}; e2e errors: {e2e['errors']}; GETs retried on a closed "
          f"keep-alive connection: {api.retries}")
    others = e2e["cpu"]["machine_cores_busy"] - sum(v for k, v in e2e["cpu"].items()
                                                    if k not in ("wall_s", "machine_cores_busy")) / e2e["cpu"]["wall_s"]
    print(f"load average at start {extra['load_avg_at_start']}; during end to end, processes outside this benchmark "
          f"used {others:.2f} of {os.cpu_count()} cores")

    result = {
        "machine_extra": extra,
        "config": {k: v for k, v in vars(args).items()},
        "raw_in_process": raw_in, "raw_cli": raw_proc, "end_to_end": e2e,
        "raw_with_work": raw_work, "end_to_end_with_work": e2e_work,
        "ratio_with_work": (e2e_work["jobs_per_s"] / raw_work["messages_per_s"]) if raw_work and e2e_work else None,
        "ratio_e2e_to_raw": e2e_rate / raw_in["messages_per_s"],
        "ratio_e2e_to_raw_cli": e2e_rate / raw_proc["messages_per_s"],
        "open_loop": bulk, "ratio_open_loop_to_raw": bulk["jobs_per_s"] / raw_in["messages_per_s"],
        "notify_delay": notify, "polling": polls,
        "rss": {"bound_mb": RSS_BOUND_MB, "growth_1k_to_final_mb": growth, "web_growth_1k_to_final_mb": web_growth,
                "within_bound": within, "milestones": {n: s for n, s in milestones if s is not None}},
        "final_statuses": statuses, "get_retries_on_closed_keepalive": api.retries,
    }
    emit(args.out, result)
    return result


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2000, help="end-to-end jobs (closed loop)")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--clients", type=int, default=24, help="concurrent HTTP client threads")
    ap.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (Procfile: 2)")
    ap.add_argument("--threads", type=int, default=8, help="threads per worker process (Procfile: 8)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=16)
    ap.add_argument("--raw-messages", type=int, default=5000)
    ap.add_argument("--pollers", type=int, default=200)
    ap.add_argument("--poll-seconds", type=float, default=10.0)
    ap.add_argument("--notify-jobs", type=int, default=100)
    ap.add_argument("--notify-clients", type=int, default=10)
    ap.add_argument("--notify-delay-ms", type=int, default=300)
    ap.add_argument("--rss-jobs", type=int, default=10_000, help="total jobs succeeded before the last RSS sample")
    ap.add_argument("--work-ms", type=int, default=100, help="equal-work comparison: sleep per job/message")
    ap.add_argument("--work-jobs", type=int, default=800, help="jobs/messages for the equal-work comparison (0: skip)")
    ap.add_argument("--worker-timeout-ms", type=int, default=0,
                    help="dramatiq_worker_timeout for the pipeline's workers (0: Dramatiq's default, 1000 ms)")
    ap.add_argument("--log-level", default="INFO", help="FLOWPILOT_LOG_LEVEL of web and workers (deployment: INFO)")
    ap.add_argument("--out", default="pipeline", help="results/<out>.json")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    main()
