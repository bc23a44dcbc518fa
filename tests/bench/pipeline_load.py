"""Load phases of bench_pipeline: open-loop submission, bulk runs to N jobs, RSS sampling, machine facts."""
from __future__ import annotations

import itertools
import os
import platform
import threading
import time
from typing import Any

import redis

from tests.bench import procstat
from tests.bench.pipeline_phases import RSS_BOUND_MB, TERMINAL, Api, _ms  # noqa: F401
from tests.bench.realstack import RealStack
from tests.helpers import ADMIN_URL, REDIS_URL


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
