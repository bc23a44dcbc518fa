"""Preview latency: cache hits vs a bare GET /jobs/{id}, and state change → ready preview vs the LLM delay.

Run: .venv/bin/python -m tests.bench.bench_previews [--requests 1000] [--changes 20] [--delay 0.2]
"""
from __future__ import annotations

import argparse
import time

from tests.bench.harness import emit, stack, summary, table, worker
from tests.fakes.anthropic_stub import AnthropicStub


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.2, help="stub LLM delay per call (s)")
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
    b, c, r = summary(base), summary(hits), summary(ready)
    print(table([
        ("measure", "n", "p50 ms", "p99 ms", "ratio p50"),
        ("GET /jobs/{id} (baseline)", str(b["n"]), f"{b['p50_ms']:.2f}", f"{b['p99_ms']:.2f}", "1.00"),
        ("preview cache hit (200)", str(c["n"]), f"{c['p50_ms']:.2f}", f"{c['p99_ms']:.2f}", f"{c['p50_ms'] / b['p50_ms']:.2f}"),
        ("state change -> ready preview", str(r["n"]), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", ""),
        ("  stub LLM delay (baseline)", "", f"{args.delay * 1000:.1f}", "", ""),
        ("  pipeline overhead p50", "", f"{r['p50_ms'] - args.delay * 1000:.1f}", "", ""),
    ]))
    emit("previews", {"baseline_get_job": b, "cache_hit": c, "change_to_ready": r, "llm_delay_ms": args.delay * 1000,
                      "cache_hit_ratio_p50": c["p50_ms"] / b["p50_ms"]})


if __name__ == "__main__":
    main()
