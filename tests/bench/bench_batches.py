"""Batch figures: (a) expansion + enqueue rate of a 100,000-session batch, (b) interactive preview
latency with and without a 10,000-job batch running, (c) utilisation of an LLM-bound batch.

Run: .venv/bin/python -m tests.bench.bench_batches [--sessions 100000] [--background 10000] [--util 200]
"""
from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import func, insert, select

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import AiSession, Batch, Job
from tests.bench.harness import Stack, emit, stack, summary, table, worker
from tests.fakes.anthropic_stub import AnthropicStub


def seed_sessions(st: Stack, account_id: uuid.UUID, n: int) -> None:
    engine = st.app.extensions["flowpilot"].engine
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


def interactive_latency(st: Stack, h: dict[str, str], session_id: str, n: int) -> list[float]:
    url = f"{st.base_url}/api/v1/ai-sessions/{session_id}"
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        st.http.post(f"{url}/facts", json={"text": f"interactive fact {i}"}, headers=h)
        job = st.http.post(f"{url}/resolution-note/preview", headers=h).json()["job"]
        st.wait_job(h, job["id"])
        out.append(time.perf_counter() - t0)
    return out


def fairness(args: argparse.Namespace) -> dict[str, object]:
    with stack() as st, worker(st.settings, pools={"interactive": 2, "batch": 2}):
        t = st.tenant()
        admin = {"Authorization": f"Bearer {t.tokens['admin']}"}
        eng = {"Authorization": f"Bearer {t.tokens['engineer']}"}
        s = st.http.post(f"{st.base_url}/api/v1/ai-sessions", json={}, headers=eng).json()
        idle = interactive_latency(st, eng, s["id"], args.samples)
        seed_sessions(st, t.account_id, args.background)
        batch_id = create_batch(st, admin, "regenerate_escalation_package")
        while batch_state(st, batch_id)[0] == "expanding":
            time.sleep(0.05)
        busy = interactive_latency(st, eng, s["id"], args.samples)
        with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
            pending = db.execute(select(func.count()).select_from(Job).where(
                Job.batch_id == uuid.UUID(batch_id), Job.status.in_(("queued", "running", "retrying")))).scalar_one()
        st.http.post(f"{st.base_url}/api/v1/batches/{batch_id}/cancel", headers=admin)
    return {"idle": summary(idle), "busy": summary(busy), "batch_children": args.background,
            "batch_pending_after": pending}


def utilisation(args: argparse.Namespace) -> dict[str, float]:
    with AnthropicStub(delay_s=args.delay) as stub, stack(
        anthropic_api_key=stub.api_key, anthropic_base_url=stub.base_url,
        flowpilot_llm_max_concurrency=args.llm_slots, flowpilot_llm_tenant_concurrency=args.llm_slots,
    ) as st, worker(st.settings, pools={"batch": args.batch_threads}):
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        seed_sessions(st, t.account_id, args.util)
        t0 = time.perf_counter()
        batch_id = create_batch(st, h, "regenerate_resolution_note")
        while True:
            body = st.http.get(f"{st.base_url}/api/v1/batches/{batch_id}", headers=h).json()
            if body["status"] != "expanding" and body["pending"] == 0:
                break
            time.sleep(0.05)
        measured = time.perf_counter() - t0
        allowed = min(args.llm_slots, args.batch_threads)
        ideal = args.util * args.delay / allowed
        return {"jobs": args.util, "delay_s": args.delay, "allowed_concurrency": allowed, "ideal_s": ideal,
                "measured_s": measured, "utilisation": ideal / measured, "llm_calls": stub.calls,
                "succeeded": body["succeeded"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--background", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--util", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--llm-slots", type=int, default=4)
    ap.add_argument("--batch-threads", type=int, default=4)
    args = ap.parse_args()
    exp = expansion(args)
    fair = fairness(args)
    util = utilisation(args)
    idle, busy = fair["idle"], fair["busy"]
    print(table([
        ("measure", "value", "baseline / note"),
        ("(a) expansion+enqueue", f"{exp['children_per_s']:.0f} children/s",
         f"{exp['children']} children in {exp['seconds']:.1f}s; {exp['messages_enqueued']} messages in Redis"),
        ("(b) interactive p50 idle / busy", f"{idle['p50_ms']:.0f} / {busy['p50_ms']:.0f} ms",  # type: ignore[index]
         f"ratio {busy['p50_ms'] / idle['p50_ms']:.2f} with a {args.background}-job batch running"),  # type: ignore[index]
        ("(b) interactive p95 idle / busy", f"{idle['p95_ms']:.0f} / {busy['p95_ms']:.0f} ms",  # type: ignore[index]
         f"ratio {busy['p95_ms'] / idle['p95_ms']:.2f}; batch children still pending: {fair['batch_pending_after']}"),  # type: ignore[index]
        ("(c) LLM-bound batch utilisation", f"{util['utilisation']:.2f}",
         f"ideal {util['ideal_s']:.1f}s = {util['jobs']} x {util['delay_s']}s / {util['allowed_concurrency']}; "
         f"measured {util['measured_s']:.1f}s"),
    ]))
    emit("batches", {"expansion": exp, "fairness": fair, "utilisation": util})


if __name__ == "__main__":
    _ = threading
    main()
