"""Preview latency: cache hits vs a bare GET /jobs/{id}, and state change → ready preview vs the LLM delay.
The assistant: message posted → first partial text seen by a long-polling client, and → reply complete,
beside the stub's own time to first token and stream duration (the floor any pipeline would pay).

Run: .venv/bin/python -m tests.bench.bench_previews [--requests 1000] [--changes 20] [--delay 0.2]
     [--messages 30] [--ttft 0.3]
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from tests.bench.harness import Stack, emit, stack, summary, table, worker
from tests.fakes.anthropic_stub import AnthropicStub

REPLY = "The queue is wedged behind one job. Restart the spooler, clear the queue, then print a test page. " * 2
CHUNK_DELAY_S = 0.02


def assistant_turns(st: Stack, stub: AnthropicStub, h: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    """Post a message in a fresh session, long-poll its reply job like a page: (to first partial, to complete)."""
    first, complete = [], []
    for i in range(n):
        sid = st.http.post(f"{st.base_url}/api/v1/ai-sessions", json={"intake_content": {"problem": f"printer {i}"}},
                           headers=h).json()["id"]
        stub.enqueue("ok", text=REPLY)
        t0 = time.perf_counter()
        r = st.http.post(f"{st.base_url}/api/v1/ai-sessions/{sid}/messages", json={"content": "Nobody can print"},
                         headers=h)
        assert r.status_code == 202, r.text
        job_url = f"{st.base_url}/api/v1/jobs/{r.json()['job']['id']}"
        etag, seen_partial = None, None
        while True:
            hh = dict(h, **({"If-None-Match": etag} if etag else {}))
            resp = st.http.get(job_url + ("?wait=10" if etag else ""), headers=hh)
            if resp.status_code == 304:
                continue
            body: dict[str, Any] = resp.json()
            etag = resp.headers["ETag"]
            now = time.perf_counter() - t0
            if seen_partial is None and (body["progress"] or {}).get("partial"):
                seen_partial = now
            if body["status"] in ("succeeded", "failed", "cancelled"):
                assert body["status"] == "succeeded", body
                assert body["result"]["message"]["content"] == REPLY.strip()
                first.append(seen_partial if seen_partial is not None else now)
                complete.append(now)
                break
    return first, complete


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.2, help="stub LLM delay per call (s)")
    ap.add_argument("--messages", type=int, default=30, help="assistant turns to time")
    ap.add_argument("--ttft", type=float, default=0.3, help="stub time to first token of a streamed reply (s)")
    args = ap.parse_args()
    with AnthropicStub(delay_s=args.delay) as stub, stack(
        anthropic_api_key=stub.api_key, anthropic_base_url=stub.base_url
    ) as st, worker(st.settings):
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['engineer']}"}
        s = st.http.post(f"{st.base_url}/api/v1/ai-sessions", json={"intake_content": {"problem": "bench"}}, headers=h).json()
        preview_url = f"{st.base_url}/api/v1/ai-sessions/{s['id']}/resolution-note/preview"
        job = st.http.post(preview_url, headers=h).json()["job"]
        st.wait_job(h, job["id"])
        job_url = f"{st.base_url}/api/v1/jobs/{job['id']}"

        def timed(fn, n):
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                r = fn()
                out.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            return out

        for _ in range(50):  # warm-up
            st.http.get(job_url, headers=h)
            st.http.post(preview_url, headers=h)
        calls_before = stub.calls
        base = timed(lambda: st.http.get(job_url, headers=h), args.requests)
        hits = timed(lambda: st.http.post(preview_url, headers=h), args.requests)
        assert stub.calls == calls_before, "cache hits must not call the LLM"

        ready = []
        for i in range(args.changes):
            t0 = time.perf_counter()
            st.http.post(f"{st.base_url}/api/v1/ai-sessions/{s['id']}/facts", json={"text": f"fact {i}"}, headers=h)
            j = st.http.post(preview_url, headers=h).json()["job"]
            st.wait_job(h, j["id"])
            ready.append(time.perf_counter() - t0)

        stub.delay_s, stub.ttft_s, stub.chunk_delay_s = 0.0, args.ttft, CHUNK_DELAY_S
        assistant_turns(st, stub, h, 3)  # warm-up
        first, complete = assistant_turns(st, stub, h, args.messages)
    stream_s = args.ttft + (len(REPLY) // stub.chunk_chars) * CHUNK_DELAY_S  # the stub's own stream, end to end
    b, c, r = summary(base), summary(hits), summary(ready)
    f, done = summary(first), summary(complete)
    print(table([
        ("measure", "n", "p50 ms", "p99 ms", "ratio p50"),
        ("GET /jobs/{id} (baseline)", str(b["n"]), f"{b['p50_ms']:.2f}", f"{b['p99_ms']:.2f}", "1.00"),
        ("preview cache hit (200)", str(c["n"]), f"{c['p50_ms']:.2f}", f"{c['p99_ms']:.2f}", f"{c['p50_ms'] / b['p50_ms']:.2f}"),
        ("state change -> ready preview", str(r["n"]), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", ""),
        ("  stub LLM delay (baseline)", "", f"{args.delay * 1000:.1f}", "", ""),
        ("  pipeline overhead p50", "", f"{r['p50_ms'] - args.delay * 1000:.1f}", "", ""),
    ]))
    print()
    print(table([
        ("assistant (long-polling client)", "n", "p50 ms", "p95 ms", "overhead p50 / p95 ms"),
        ("message posted -> first partial text", str(f["n"]), f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}",
         f"{f['p50_ms'] - args.ttft * 1000:.1f} / {f['p95_ms'] - args.ttft * 1000:.1f}"),
        ("  stub time to first token (baseline)", "", f"{args.ttft * 1000:.1f}", "", ""),
        ("message posted -> reply complete", str(done["n"]), f"{done['p50_ms']:.1f}", f"{done['p95_ms']:.1f}",
         f"{done['p50_ms'] - stream_s * 1000:.1f} / {done['p95_ms'] - stream_s * 1000:.1f}"),
        ("  stub stream, first byte to last (baseline)", "", f"{stream_s * 1000:.1f}", "", ""),
    ]))
    emit("previews", {"baseline_get_job": b, "cache_hit": c, "change_to_ready": r, "llm_delay_ms": args.delay * 1000,
                      "cache_hit_ratio_p50": c["p50_ms"] / b["p50_ms"],
                      "assistant_first_partial": f, "assistant_complete": done, "assistant_ttft_ms": args.ttft * 1000,
                      "assistant_stream_ms": stream_s * 1000})


if __name__ == "__main__":
    main()
