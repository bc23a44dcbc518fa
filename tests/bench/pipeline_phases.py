"""The measuring phases of bench_pipeline: closed loop (threaded `requests`, used by profile_hot_path), long-poll delay, pollers."""
from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime
from typing import Any

import requests

from tests.bench.harness import pct
from tests.helpers import ADMIN_URL

TERMINAL = ("succeeded", "failed", "cancelled")
RSS_BOUND_MB = 20.0


def _ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50_ms": pct(samples, 50) * 1000, "p95_ms": pct(samples, 95) * 1000,
            "p99_ms": pct(samples, 99) * 1000, "max_ms": max(samples) * 1000}


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
