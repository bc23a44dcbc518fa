"""Regenerating 1,000 sessions: Anthropic's Message Batches vs one Messages call per session, against the stub.

Reports, per path: provider HTTP requests, wall time from POST /batches to the last child finished, the
tokens the stub billed, and the cost those tokens imply (Message Batches at half price, cached system-prompt
reads at a tenth). The stub answers at once (`--call-latency` adds a per-request delay to every request to
model the real API's seconds per draft; `--provider-latency` is how long each provider batch takes).

Run: .venv/bin/python -m tests.bench.bench_message_batches [--sessions 1000] [--threads 8]
        [--call-latency 0] [--provider-latency 0]
"""
from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from shared.jobs.sweeper import sweep_once
from tests.bench.bench_batches import seed_sessions
from tests.bench.harness import Stack, emit, stack, table, worker
from tests.fakes.anthropic_stub import AnthropicStub


def run(st: Stack, stub: AnthropicStub, *, sessions: int, threads: int, threshold: int,
        action: str) -> dict[str, Any]:
    t = st.tenant(f"Bench {threshold}")
    h = {"Authorization": f"Bearer {t.tokens['admin']}"}
    seed_sessions(st, t.account_id, sessions)
    settings = st.settings.model_copy(update={
        "anthropic_api_key": stub.api_key, "anthropic_base_url": stub.base_url, "flowpilot_llm_timeout_s": 30.0,
        "flowpilot_llm_batch_threshold": threshold, "flowpilot_llm_batch_poll_min_s": 0.25,
        "flowpilot_llm_batch_poll_max_s": 1.0})
    state = st.app.extensions["flowpilot"]
    before = len(stub.requests)
    with worker(settings, pools={"batch": threads}):
        t0 = time.perf_counter()
        r = st.http.post(f"{st.base_url}/api/v1/batches", json={"action": action}, headers=h)
        assert r.status_code == 202, r.text
        batch_id = r.json()["batch"]["id"]
        while True:
            sweep_once(state.engine, state.dispatcher, state.redis, state.namespace, stale_after_s=60,
                       redispatch_after_s=60)
            body = st.http.get(f"{st.base_url}/api/v1/batches/{batch_id}", headers=h).json()
            if body["status"] in ("succeeded", "failed", "cancelled") and not body["pending"]:
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    requests = stub.requests[before:]
    cost = body["llm"]["cost"]["actual"]
    return {"mode": body["llm"]["mode"], "succeeded": body["succeeded"], "failed": body["failed"],
            "wall_s": round(wall, 2), "provider_requests": len(requests),
            "messages_calls": sum(1 for q in requests if q.path == "/v1/messages"),
            "batch_creates": sum(1 for q in requests if q.path == "/v1/messages/batches"),
            "provider_batches": len(body["llm"]["provider_batches"]),
            "input_tokens": cost["input_tokens"], "cache_read_input_tokens": cost["cache_read_input_tokens"],
            "cache_creation_input_tokens": cost["cache_creation_input_tokens"], "output_tokens": cost["output_tokens"],
            "usd": cost["usd"], "usd_at_per_call_prices": cost["usd_per_call"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--call-latency", type=float, default=0.0)
    p.add_argument("--provider-latency", type=float, default=0.0)
    args = p.parse_args()
    action = "regenerate_resolution_note"
    with stack() as st, AnthropicStub() as stub:
        stub.delay_s = args.call_latency
        stub.batches.latency_s = args.provider_latency
        mb = run(st, stub, sessions=args.sessions, threads=args.threads, threshold=20, action=action)
        per_call = run(st, stub, sessions=args.sessions, threads=args.threads, threshold=10**9, action=action)
    ratio = mb["usd"] / per_call["usd"] if per_call["usd"] else float("nan")
    rows = [("path", "done", "provider requests", "of which /v1/messages", "provider batches", "wall s",
             "input tok", "cache-read tok", "output tok", "USD")]
    for name, r in (("Message Batches", mb), ("per call", per_call)):
        rows.append((name, str(r["succeeded"]), str(r["provider_requests"]), str(r["messages_calls"]),
                     str(r["provider_batches"]), f"{r['wall_s']:.2f}", str(r["input_tokens"]),
                     str(r["cache_read_input_tokens"]), str(r["output_tokens"]), f"{r['usd']:.4f}"))
    print(table(rows))
    print(f"price ratio (Message Batches / per call, from the stub's token counts): {ratio:.3f}")
    emit("bench_message_batches", {"run": str(uuid.uuid4()), "args": vars(args), "message_batches": mb,
                                   "per_call": per_call, "price_ratio": ratio})


if __name__ == "__main__":
    main()
