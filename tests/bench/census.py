"""Round-trip census of the hot path, in-process: what one request or one job costs in database
transactions, statements, pool checkouts (each with a pre-ping), Redis commands and new Redis
connections, plus single-threaded CPU and wall time per operation.

It complements the py-spy profile (where CPU goes) with exact counts (what is sent over the wire).
The app is the real app (Flask test client, no HTTP server in the loop); the job is run through the real
runner (`workers.runner.run_job`) with the real per-process Resources, without Dramatiq (whose own
per-message cost is the raw baseline: one enqueue, one ack, a fetch per prefetch batch).

Run: .venv/bin/python -m tests.bench.census [--n 300]
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import event

from tests.bench.harness import emit, stack, table


class Census:
    """Counts, per operation, what crosses the wire (DB and Redis)."""

    def __init__(self) -> None:
        self.c: Counter[str] = Counter()
        self.active = False

    def hit(self, key: str, n: int = 1) -> None:
        if self.active:
            self.c[key] += n

    @contextmanager
    def on(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


def instrument(census: Census, engine: Any) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _stmt(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if "set_config" in statement:
            head = "SELECT set_config"
        census.hit("db statements")
        census.hit(f"db stmt: {head}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        census.hit("db transactions (BEGIN)")

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        census.hit("db COMMIT")

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        census.hit("db ROLLBACK")

    @event.listens_for(engine.pool, "checkout")
    def _checkout(*a: Any) -> None:
        census.hit("db pool checkouts")

    # (The pool pings a connection only after it sat idle for db.engine.PING_IDLE_S; not in these loops.)


def instrument_redis(census: Census) -> None:
    conn_cls = redis.connection.AbstractConnection
    send = conn_cls.send_packed_command
    connect = conn_cls.connect

    def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        census.hit("redis sends (round trips)")
        return send(self, command, check_health)

    def counted_connect(self: Any, *a: Any, **kw: Any) -> None:
        if self._sock is None:
            census.hit("redis new connections")
        return connect(self, *a, **kw)

    conn_cls.send_packed_command = counted_send  # type: ignore[method-assign]
    conn_cls.connect = counted_connect  # type: ignore[method-assign]


def measure(census: Census, fn: Callable[[int], Any], n: int) -> dict[str, Any]:
    for i in range(min(20, n)):  # warm caches (statement cache, pools)
        fn(-1 - i)
    census.c.clear()
    w0, c0 = time.perf_counter(), time.process_time()
    with census.on():
        for i in range(n):
            fn(i)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    counts = {k: v / n for k, v in sorted(census.c.items())}
    return {"n": n, "wall_ms": wall * 1000 / n, "cpu_ms": cpu * 1000 / n, "per_op": counts}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args(argv)
    census = Census()
    instrument_redis(census)
    out: dict[str, Any] = {}
    with stack() as st:
        from workers.handlers import HANDLERS
        from workers.resources import Resources
        from workers.runner import run_job

        instrument(census, st.app.extensions["flowpilot"].engine)
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        client = st.app.test_client()
        res = Resources.create(st.settings)
        instrument(census, res.engine)
        echo = HANDLERS["system.echo"]

        def submit(i: int) -> dict[str, Any]:
            r = client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"i": i}}, headers=h)
            assert r.status_code == 202, r.get_data(as_text=True)
            job: dict[str, Any] = r.get_json()["job"]
            return job

        # jobs to run: created outside the measured loop
        pending = [submit(-1000 - i) for i in range(args.n + 20)]
        it = iter(pending)

        def run_one(i: int) -> None:
            job = next(it)
            run_job(res, echo, job["id"], str(t.account_id))

        out["worker: run_job(system.echo)"] = measure(census, run_one, args.n)
        done = pending[0]["id"]
        etag = client.get(f"/api/v1/jobs/{done}", headers=h).headers["ETag"]
        out["POST /jobs"] = measure(census, submit, args.n)
        out["GET /jobs/{id}"] = measure(census, lambda i: client.get(f"/api/v1/jobs/{done}", headers=h), args.n)
        out["GET /jobs/{id} If-None-Match (304)"] = measure(
            census, lambda i: client.get(f"/api/v1/jobs/{done}", headers={**h, "If-None-Match": etag}), args.n)
        # a long-poll that returns at once because the job changed (the cheapest long-poll); uses a queued job
        queued = submit(-1)
        q_etag = client.get(f"/api/v1/jobs/{queued['id']}", headers=h).headers["ETag"]
        out["GET ?wait=1 on a queued job (times out)"] = measure(
            census, lambda i: client.get(f"/api/v1/jobs/{queued['id']}?wait=1", headers={**h, "If-None-Match": q_etag}),
            3)
        res.dispose()

    keys = sorted({k for v in out.values() for k in v["per_op"]})
    rows: list[tuple[str, ...]] = [("per operation", *out.keys())]
    rows.append(("wall ms (1 thread)", *[f"{v['wall_ms']:.2f}" for v in out.values()]))
    rows.append(("CPU ms (this process)", *[f"{v['cpu_ms']:.2f}" for v in out.values()]))
    for k in keys:
        rows.append((k, *[f"{v['per_op'].get(k, 0):.2f}" for v in out.values()]))
    print(table(rows))
    emit("census", out)
    return out


if __name__ == "__main__":
    main()
