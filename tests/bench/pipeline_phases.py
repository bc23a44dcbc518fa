"""The measuring phases of bench_pipeline: raw Dramatiq, closed loop, long-poll delay, pollers."""
from __future__ import annotations

import itertools
import os
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
from tests.bench.harness import pct
from tests.bench.raw_actor import QUEUE, declare_noop, make_broker
from tests.bench.realstack import ROOT
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
                                       if k not in procstat.NOT_GROUPS}}
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


def raw_send_and_process(n: int, processes: int, threads: int, senders: int = 1,
                         worker_timeout_ms: int = 0) -> dict[str, Any]:
    """Dramatiq alone, sending and processing N no-op messages at once: `python -m dramatiq` with the pipeline's
    P x T already consuming, S producer threads sending. Rate = N / (first send -> last ack): the same
    wall-clock definition as the end-to-end figure (submitted, processed, done)."""
    ns = f"fpraw-{uuid.uuid4().hex[:6]}"
    broker = make_broker(REDIS_URL, ns)
    actor = declare_noop(broker)
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{ns}:{QUEUE}.msgs"
    redis_port = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))
    env = {**os.environ, "FPBENCH_RAW_REDIS_URL": REDIS_URL, "FPBENCH_RAW_NAMESPACE": ns}
    if worker_timeout_ms:  # the same idle backoff cap as the pipeline's workers
        env["dramatiq_worker_timeout"] = str(worker_timeout_ms)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "tests.bench.raw_actor", "--processes", str(processes),
         "--threads", str(threads), "--queues", QUEUE], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for i in range(200):  # warm-up: the consumers are up once these are acked
            actor.send(-1 - i)
        _drain(client, key, 200, timeout=120)
        groups: dict[str, Any] = {"bench senders (this process)": lambda: [os.getpid()],
                                  "dramatiq (workers)": lambda: procstat.tree(proc.pid),
                                  "redis-server": lambda: procstat.redis_servers(redis_port)}
        meter = procstat.CpuMeter(groups).start()
        per = -(-n // senders)
        t0 = time.perf_counter()

        def send(k: int) -> None:
            for i in range(k * per, min(n, (k + 1) * per)):
                actor.send(i)

        ts = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        send_s = time.perf_counter() - t0
        while int(client.hlen(key)) > 0:
            if time.perf_counter() - t0 > 600:
                raise TimeoutError("raw send+process: messages still queued after 600 s")
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        cpu = meter.stop(wall)
        return {"messages": n, "senders": senders, "processes": processes, "threads": threads, "send_s": send_s,
                "wall_s": wall, "messages_per_s": n / wall, "cpu": cpu,
                "cpu_ms_per_message": {k: v * 1000 / n for k, v in cpu.items()
                                       if k not in procstat.NOT_GROUPS}}
    finally:
        if proc.poll() is None:
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
