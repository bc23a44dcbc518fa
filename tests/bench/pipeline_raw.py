"""The raw baselines of bench_pipeline: Dramatiq alone, no HTTP, no Postgres, on the same Redis."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import redis

from tests.bench import procstat
from tests.bench.raw_actor import QUEUE, declare_noop, make_broker
from tests.bench.realstack import ROOT, stop_process
from tests.helpers import REDIS_URL


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


def _raw_setup() -> tuple[str, Any, Any, redis.Redis, str, int]:
    """A fresh namespace on the same Redis: (namespace, broker, no-op actor, client, message-hash key, port)."""
    ns = f"fpraw-{uuid.uuid4().hex[:6]}"
    broker = make_broker(REDIS_URL, ns)
    actor = declare_noop(broker)
    port = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))
    return ns, broker, actor, redis.Redis.from_url(REDIS_URL), f"{ns}:{QUEUE}.msgs", port


def raw_baseline(n: int, processes: int, threads: int, *, in_process: bool, sleep_ms: int = 0) -> dict[str, Any]:
    """N no-op messages: sent (one producer thread), then processed by P*T worker threads."""
    ns, broker, actor, client, key, redis_port = _raw_setup()
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
        _teardown(proc, broker, client, ns)


def raw_send_and_process(n: int, processes: int, threads: int, senders: int = 1,
                         worker_timeout_ms: int = 0) -> dict[str, Any]:
    """Dramatiq alone, sending and processing N no-op messages at once: `python -m dramatiq` with the pipeline's
    P x T already consuming, S producer threads sending. Rate = N / (first send -> last ack): the same
    wall-clock definition as the end-to-end figure (submitted, processed, done)."""
    ns, broker, actor, client, key, redis_port = _raw_setup()
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
        _teardown(proc, broker, client, ns)


def _teardown(proc: subprocess.Popen[bytes] | None, broker: Any, client: redis.Redis, ns: str) -> None:
    """Stop the raw workers, close the broker, delete the namespace's keys."""
    stop_process(proc)
    broker.close()
    keys = list(client.scan_iter(f"{ns}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
