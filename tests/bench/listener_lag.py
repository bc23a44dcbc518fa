"""How fast one web process's pub/sub listener hands notifications to parked waiters, under gevent.

A gevent-patched interpreter (like the gunicorn worker) parks N waiters on N job ids through the real Listener and
JobWaiters; a separate process publishes one notification per job every 2 ms and prints when. Lag = the waiter's
wake-up time minus the publish time. `busy` spins each woken waiter for that many loop turns (its re-read and answer).

Run: .venv/bin/python -m tests.bench.listener_lag [N] [busy]
"""
from gevent import monkey

monkey.patch_all()

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

from shared.jobs.notify import JobWaiters  # noqa: E402
from shared.pubsub import Listener  # noqa: E402
from tests.helpers import REDIS_URL  # noqa: E402

PUBLISHER = """
import redis, sys, time
r = redis.Redis.from_url(sys.argv[1])
for job in sys.stdin.read().split():
    r.publish(sys.argv[2] + job, b'1')
    print(job, time.time(), flush=True)
    time.sleep(0.002)
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    busy = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    ns = f"laglst-{uuid.uuid4().hex[:6]}"
    listener = Listener(redis.Redis.from_url(REDIS_URL, socket_timeout=5))
    waiters = JobWaiters(listener, ns)
    assert listener.wait_healthy(5)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    woke: dict[str, float] = {}

    def wait(job: str) -> None:
        with waiters.waiter(job) as w:
            w.wait(time.monotonic() + 60)
            woke[job] = time.time()
            x = 0
            for i in range(busy):
                x += i

    greenlets = [gevent.spawn(wait, j) for j in ids]
    gevent.sleep(1)
    pub = subprocess.run([sys.executable, "-c", PUBLISHER, REDIS_URL, f"{ns}:job-changed:"], input="\n".join(ids),
                         capture_output=True, text=True, check=True)
    gevent.joinall(greenlets, timeout=60)
    sent = {line.split()[0]: float(line.split()[1]) for line in pub.stdout.splitlines()}
    lags = sorted((woke[j] - sent[j]) * 1000 for j in ids if j in woke)
    print(f"{n} waiters, busy={busy}: {len(lags)} woken; lag p50 {lags[len(lags) // 2]:.1f} ms, "
          f"p95 {lags[int(len(lags) * 0.95)]:.1f} ms, max {lags[-1]:.1f} ms")
    listener.stop()


if __name__ == "__main__":
    main()
