"""Batch figures: (a) expansion + enqueue rate of a 100,000-session batch, (b) interactive preview
latency with and without a 10,000-job batch running, (c) utilisation of an LLM-bound batch.

(a) runs in process (harness: only the expander works). (b) and (c) run the deployment's processes (realstack:
gunicorn, the interactive pool, the batch pool as the Procfile starts them), because the batch pool is its own
process there: the interactive work and the batch share the 2 cores, not a GIL. (b) measures the batch pool
as it was before issue 14 (`before`) and as the Procfile runs it now (`now`), against one idle baseline.

Run: .venv/bin/python -m tests.bench.bench_batches [--sessions 100000] [--background 10000] [--util 200]
        [--skip expansion,fairness,utilisation]
"""
from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import requests
from sqlalchemy import Engine, func, insert, select

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import AiSession, Batch, Job
from tests.bench import procstat
from tests.bench.harness import Stack, emit, stack, summary, table, worker
from tests.bench.realstack import RealStack, real_stack
from tests.fakes.anthropic_stub import AnthropicStub

# The batch pool as the Procfile ran it before issue 14, and as it runs it now
# (`batch: exec scripts/lowprio 10 env dramatiq_worker_timeout=100 dramatiq ...`).
POOLS: dict[str, dict[str, int]] = {"before": {"nice": 0, "worker_timeout_ms": 1000},
                                    "poll only": {"nice": 0, "worker_timeout_ms": 100},
                                    "lowprio 10": {"nice": 10, "worker_timeout_ms": 100},
                                    "now": {"nice": 19, "worker_timeout_ms": 100}}


def start_pool(st: RealStack, threads: int, pool: dict[str, int]) -> None:
    st.start_batch(threads=threads, nice=pool["nice"], dramatiq_worker_timeout=str(pool["worker_timeout_ms"]))


def seed_sessions(st: Stack, account_id: uuid.UUID, n: int) -> None:
    seed_sessions_engine(st.app.extensions["flowpilot"].engine, account_id, n)


def seed_sessions_engine(engine: Engine, account_id: uuid.UUID, n: int) -> None:
    base = datetime.now(UTC) - timedelta(days=1)
    for start in range(0, n, 5000):
        rows = [{"id": uuid.uuid4(), "account_id": account_id, "status": "active", "state_version": 1,
                 "intake_type": "free_text", "intake": {"problem": f"issue {i}"},
                 "created_at": base + timedelta(microseconds=i)} for i in range(start, min(n, start + 5000))]
        with transaction(engine, tenant_scope(account_id)) as db:
            db.execute(insert(AiSession), rows)


def create_batch(st: Stack, h: dict[str, str], action: str) -> str:
    r = st.http.post(f"{st.base_url}/api/v1/batches", json={"action": action}, headers=h)
    assert r.status_code == 202, r.text
    return r.json()["batch"]["id"]


def batch_state(st: Stack, batch_id: str) -> tuple[str, int]:
    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        b = db.get(Batch, uuid.UUID(batch_id))
        return b.status, b.total


def expansion(args: argparse.Namespace) -> dict[str, float]:
    """Only the expansion pool runs: children are created and enqueued, nobody consumes them."""
    with stack() as st:
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        seed_sessions(st, t.account_id, args.sessions)
        r = redis.Redis.from_url(st.settings.redis_url)
        with worker(st.settings, pools={"batch": 1}):
            t0 = time.perf_counter()
            batch_id = create_batch(st, h, "regenerate_resolution_note")
            while batch_state(st, batch_id)[0] == "expanding":
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            # the expander ran on the batch pool too; its children now wait in the batch queue
            queued = r.llen(f"{st.settings.flowpilot_redis_namespace}:batch")
            st.http.post(f"{st.base_url}/api/v1/batches/{batch_id}/cancel", headers=h)
        total = batch_state(st, batch_id)[1]
        return {"sessions": args.sessions, "children": total, "seconds": elapsed, "children_per_s": total / elapsed,
                "messages_enqueued": queued}


class Api:
    """Blocking client of a real stack for one tenant (requests, keep-alive)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base = f"{base_url}/api/v1"
        self.http = requests.Session()
        self.h = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post(f"{self.base}{path}", json=body or {}, headers=self.h)
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path} -> {r.status_code}: {r.text[:200]}")
        return r.json()  # type: ignore[no-any-return]

    def get(self, path: str) -> dict[str, Any]:
        r = self.http.get(f"{self.base}{path}", headers=self.h)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def wait_job(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        etag, deadline = None, time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = dict(self.h, **({"If-None-Match": etag} if etag else {}))
            r = self.http.get(f"{self.base}/jobs/{job_id}" + ("?wait=10" if etag else ""), headers=h)
            if r.status_code == 304:
                continue
            body, etag = r.json(), r.headers["ETag"]
            if body["status"] in ("succeeded", "failed", "cancelled"):
                return body  # type: ignore[no-any-return]
        raise TimeoutError(job_id)


def interactive_latency(api: Api, session_id: str, n: int) -> list[float]:
    """An engineer's loop: add a fact, ask for the resolution-note preview, long-poll it until it is ready
    (a new session every 90 samples: a session holds at most 100 facts)."""
    out = []
    for i in range(n):
        if i and i % 90 == 0:
            session_id = api.post("/ai-sessions", {"intake_type": "free_text",
                                                   "intake_content": {"problem": "vpn drops"}})["id"]
        t0 = time.perf_counter()
        api.post(f"/ai-sessions/{session_id}/facts", {"text": f"interactive fact {i}"})
        job = api.post(f"/ai-sessions/{session_id}/resolution-note/preview")["job"]
        api.wait_job(job["id"])
        out.append(time.perf_counter() - t0)
    return out


def children_done(st: RealStack, batch_id: str) -> int:
    with transaction(st.engine, SYSTEM) as db:
        return int(db.execute(select(func.count()).select_from(Job).where(
            Job.batch_id == uuid.UUID(batch_id), Job.status.in_(("succeeded", "failed")))).scalar_one())


def wait_expanded(st: RealStack, api: Api, batch_id: str) -> None:
    while api.get(f"/batches/{batch_id}")["status"] == "expanding":
        time.sleep(0.05)


def fairness(args: argparse.Namespace) -> dict[str, Any]:
    """Real processes (Procfile topology): web, interactive pool (-p 2 -t 8), batch pool (-p 1 -t 4).

    Idle interactive latency, then the same loop while a batch of `--background` offline escalation packages runs,
    once per batch-pool configuration, in one run: `before` (the pool as it was: nice 0) and `now` (as the
    Procfile runs it). Each batch is cancelled once its samples are taken; its throughput is reported beside.
    """
    out: dict[str, Any] = {"batch_children": args.background, "configs": POOLS}
    with real_stack(start=False) as st:
        st.start_web()
        st.start_workers(dramatiq_worker_timeout="100", nice=args.worker_nice)
        t = st.tenant()
        admin, eng = Api(st.base_url, t.tokens["admin"]), Api(st.base_url, t.tokens["engineer"])
        session = eng.post("/ai-sessions", {"intake_type": "free_text", "intake_content": {"problem": "vpn drops"}})
        interactive_latency(eng, session["id"], 5)  # warm-up
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        t0 = time.perf_counter()
        out["idle"] = summary(interactive_latency(eng, session["id"], args.samples))
        out["idle_cpu"] = meter.stop(time.perf_counter() - t0)
        seed_sessions_engine(st.engine, t.account_id, args.background)
        for name, pool in POOLS.items():
            start_pool(st, args.batch_threads, pool)
            batch_id = admin.post("/batches", {"action": "regenerate_escalation_package"})["batch"]["id"]
            wait_expanded(st, admin, batch_id)
            time.sleep(1.0)  # the pool is at full speed
            done0, meter, t0 = children_done(st, batch_id), procstat.CpuMeter(st.cpu_groups()).start(), time.perf_counter()
            session = eng.post("/ai-sessions", {"intake_type": "free_text", "intake_content": {"problem": "vpn drops"}})
            busy = interactive_latency(eng, session["id"], args.samples)
            wall = time.perf_counter() - t0
            cpu = meter.stop(wall)
            done = children_done(st, batch_id) - done0
            admin.post(f"/batches/{batch_id}/cancel")
            st.stop_batch()
            out[name] = {"busy": summary(busy), "batch_children_per_s": done / wall, "cpu": cpu,
                         "p50_ratio": summary(busy)["p50_ms"] / out["idle"]["p50_ms"],
                         "p95_ratio": summary(busy)["p95_ms"] / out["idle"]["p95_ms"]}
    return out


def utilisation(args: argparse.Namespace, pool: dict[str, int]) -> dict[str, Any]:
    """An LLM-bound batch on the batch pool alone (real processes): ideal = jobs x delay / allowed concurrency."""
    with AnthropicStub(delay_s=args.delay) as stub, real_stack(
        start=False, anthropic_api_key=stub.api_key, anthropic_base_url=stub.base_url,
        flowpilot_llm_max_concurrency=args.llm_slots, flowpilot_llm_tenant_concurrency=args.llm_slots,
        flowpilot_llm_batch_threshold=10**9,  # one model call per child (Message Batches: bench_message_batches)
    ) as st:
        st.start_web()
        start_pool(st, args.batch_threads, pool)
        t = st.tenant()
        admin = Api(st.base_url, t.tokens["admin"])
        warm = admin.post("/batches", {"action": "regenerate_resolution_note"})["batch"]["id"]  # no sessions yet
        while admin.get(f"/batches/{warm}")["status"] == "expanding":
            time.sleep(0.05)
        seed_sessions_engine(st.engine, t.account_id, args.util)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        t0 = time.perf_counter()
        batch_id = admin.post("/batches", {"action": "regenerate_resolution_note"})["batch"]["id"]
        while True:
            body = admin.get(f"/batches/{batch_id}")
            if body["status"] != "expanding" and body["pending"] == 0:
                break
            time.sleep(0.1)  # (each GET counts the children: polling faster takes CPU from the batch)
        measured = time.perf_counter() - t0
        cpu = meter.stop(measured)
        allowed = min(args.llm_slots, args.batch_threads)
        ideal = args.util * args.delay / allowed
        return {"jobs": args.util, "delay_s": args.delay, "allowed_concurrency": allowed, "ideal_s": ideal,
                "measured_s": measured, "utilisation": ideal / measured, "llm_calls": stub.calls,
                "succeeded": body["succeeded"], "pool": pool, "cpu": cpu}


def _pool(pool: dict[str, int]) -> str:
    return f"(nice {pool['nice']}, idle poll {pool['worker_timeout_ms']} ms)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--background", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--util", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--llm-slots", type=int, default=4)
    ap.add_argument("--batch-threads", type=int, default=4)
    ap.add_argument("--worker-nice", type=int, default=10, help="the interactive pool's lowprio (Procfile: 10)")
    ap.add_argument("--skip", default="", help="comma-separated: expansion,fairness,utilisation")
    ap.add_argument("--pools", default=",".join(POOLS), help="batch pool configurations to run: " + ",".join(POOLS))
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    for name in set(POOLS) - set(args.pools.split(",")):
        del POOLS[name]
    out: dict[str, Any] = {}
    rows: list[tuple[str, ...]] = [("measure", "value", "baseline / note")]
    if "expansion" not in skip:
        exp = out["expansion"] = expansion(args)
        rows.append(("(a) expansion+enqueue", f"{exp['children_per_s']:.0f} children/s",
                     f"{exp['children']} children in {exp['seconds']:.1f}s; {exp['messages_enqueued']} messages in Redis"))
    if "fairness" not in skip:
        fair = out["fairness"] = fairness(args)
        idle = fair["idle"]
        rows.append(("(b) interactive p50 / p95, idle", f"{idle['p50_ms']:.0f} / {idle['p95_ms']:.0f} ms",
                     f"baseline; steal {fair['idle_cpu']['machine_cores_stolen']:.2f} cores"))
        for name, pool in POOLS.items():
            f = fair[name]
            rows.append((f"(b) ... {args.background}-job batch running, pool {name} {_pool(pool)}",
                         f"{f['busy']['p50_ms']:.0f} / {f['busy']['p95_ms']:.0f} ms",
                         f"ratio p50 {f['p50_ratio']:.2f}, p95 {f['p95_ratio']:.2f}; batch {f['batch_children_per_s']:.0f} "
                         f"children/s; steal {f['cpu']['machine_cores_stolen']:.2f}"))
    if "utilisation" not in skip:
        out["utilisation"] = {}
        for name, pool in POOLS.items():
            util = out["utilisation"][name] = utilisation(args, pool)
            rows.append((f"(c) LLM-bound batch utilisation, pool {name} {_pool(pool)}", f"{util['utilisation']:.2f}",
                         f"ideal {util['ideal_s']:.1f}s = {util['jobs']} x {util['delay_s']}s / "
                         f"{util['allowed_concurrency']}; measured {util['measured_s']:.1f}s; "
                         f"steal {util['cpu']['machine_cores_stolen']:.2f}"))
    print(table(rows))
    emit("batches", out)


if __name__ == "__main__":
    main()
