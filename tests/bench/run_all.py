"""Run every benchmark (`make bench`) and print one combined table; write tests/bench/results/all.json.

Each benchmark runs as its own `python -m tests.bench.<name>` process (its own Dramatiq broker, its own
throwaway database), prints its own tables, and writes results/<name>.json; this script then reads those
files and prints the headline figures side by side. bench_writeback runs only when the module exists.
No timed assertions: the exit code is non-zero only when a benchmark itself failed (crashed, or reported
an incorrect outcome).

Run: .venv/bin/python -m tests.bench.run_all [--skip previews,writeback] [--pipeline-args "--jobs 5000"]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.harness import emit, table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
BENCHES = ("previews", "writeback", "batches", "watchers", "backlog", "pipeline")


def _exists(name: str) -> bool:
    return importlib.util.find_spec(f"tests.bench.bench_{name}") is not None


def _run(name: str, extra: list[str]) -> dict[str, Any]:
    out = RESULTS / f"{name}.json"
    before = out.stat().st_mtime if out.exists() else 0.0
    cmd = [sys.executable, "-m", f"tests.bench.bench_{name}", *extra]
    print(f"\n===== bench_{name}: {' '.join(shlex.quote(c) for c in cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    # Pass the benchmark's output through, minus the in-process werkzeug server's access log (one line per request).
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    dropped = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if " INFO werkzeug: " in line:
            dropped += 1
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
    rc = proc.wait()
    if dropped:
        print(f"({dropped} werkzeug access-log lines not shown)")
    seconds = time.perf_counter() - t0
    fresh = out.exists() and out.stat().st_mtime > before
    result = json.loads(out.read_text()) if fresh else None
    return {"rc": rc, "seconds": seconds, "result": result}


def _g(d: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def _f(x: Any, nd: int = 1, suffix: str = "") -> str:
    return f"{x:.{nd}f}{suffix}" if isinstance(x, (int, float)) else "-"


def rows_for(name: str, r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, measure, figure, baseline / ratio) rows from a results file."""
    d = r["result"]
    if d is None:
        return [(name, f"no results (exit code {r['rc']})", "-", "-")]
    rows: list[tuple[str, str, str, str]] = []
    if name == "previews":
        b, c, ch = d.get("baseline_get_job", {}), d.get("cache_hit", {}), d.get("change_to_ready", {})
        rows += [
            (name, "preview cache hit p50 / p99", f"{_f(c.get('p50_ms'), 2)} / {_f(c.get('p99_ms'), 2)} ms",
             f"GET /jobs p50 {_f(b.get('p50_ms'), 2)} ms; ratio {_f(d.get('cache_hit_ratio_p50'), 2)}"),
            (name, "state change -> ready preview p50", f"{_f(ch.get('p50_ms'))} ms",
             f"stub LLM delay {_f(d.get('llm_delay_ms'))} ms"),
        ]
        fp, done = d.get("assistant_first_partial", {}), d.get("assistant_complete", {})
        rows += [
            (name, "assistant: message -> first partial p50 / p95", f"{_f(fp.get('p50_ms'))} / {_f(fp.get('p95_ms'))} ms",
             f"stub time to first token {_f(d.get('assistant_ttft_ms'))} ms"),
            (name, "assistant: message -> reply complete p50 / p95",
             f"{_f(done.get('p50_ms'))} / {_f(done.get('p95_ms'))} ms", f"stub stream {_f(d.get('assistant_stream_ms'))} ms"),
        ]
    elif name == "writeback":
        for run, v in sorted((d.get("runs") or {}).items()):
            base = (f"bare {_f(v.get('bare_jobs_per_s'))} jobs/s" if "bare_jobs_per_s" in v
                    else f"ideal {_f(v.get('ideal_jobs_per_s'))} jobs/s")
            rows.append((name, f"{run}: {v.get('jobs')} writebacks, jobs/s (correct: {v.get('correct')})",
                         _f(v.get("jobs_per_s")), f"{base}; ratio {_f(v.get('ratio'), 3)}"))
    elif name == "batches":
        e, f, u = d.get("expansion", {}), d.get("fairness", {}), d.get("utilisation", {})
        if e:
            rows.append((name, f"expansion + enqueue of a {e.get('sessions')}-session batch",
                         f"{_f(e.get('children_per_s'), 0)} children/s", f"{e.get('children')} children in {_f(e.get('seconds'))} s"))
        if f:
            idle = f.get("idle", {})
            rows.append((name, "interactive preview p50 / p95, idle", f"{_f(idle.get('p50_ms'))} / {_f(idle.get('p95_ms'))} ms",
                         "baseline"))
            for pool in ("before", "poll only", "now"):
                v = f.get(pool, {})
                busy = v.get("busy", {})
                rows.append((name, f"... {f.get('batch_children')}-job batch running, batch pool {pool}",
                             f"{_f(busy.get('p50_ms'))} / {_f(busy.get('p95_ms'))} ms",
                             f"ratio p50 {_f(v.get('p50_ratio'), 2)}, p95 {_f(v.get('p95_ratio'), 2)}; "
                             f"batch {_f(v.get('batch_children_per_s'), 0)} children/s"))
        for pool, v in (u or {}).items():
            rows.append((name, f"LLM-bound batch utilisation, batch pool {pool}", _f(v.get("utilisation"), 2),
                         f"ideal {_f(v.get('ideal_s'))} s = {v.get('jobs')} x {v.get('delay_s')} s / "
                         f"{v.get('allowed_concurrency')}; measured {_f(v.get('measured_s'))} s"))
    elif name == "watchers":
        idle, parked = d.get("idle", {}), d.get("parked_probe", {})
        for ep in ("GET /ai-sessions", "GET /jobs/{id}"):
            a, b = idle.get(ep, {}), parked.get(ep, {})
            rows.append((name, f"{ep} p50 / p95 / p99, idle -> {d.get('parked')} parked",
                         f"{_f(b.get('p50_ms'))} / {_f(b.get('p95_ms'))} / {_f(b.get('p99_ms'))} ms",
                         f"idle {_f(a.get('p50_ms'))} / {_f(a.get('p95_ms'))} / {_f(a.get('p99_ms'))} ms; "
                         f"p95 ratio {_f((b.get('p95_ms') or 0) / (a.get('p95_ms') or 1), 2)}"))
        rows.append((name, "memory per parked wait", f"{_f(d.get('kb_per_parked_wait'))} KB",
                     f"web RSS {_f(sum((d.get('rss_after_mb') or {}).values()))} MB"))
        c = _g(d, "completion", "finished_to_response") or {}
        rows.append((name, "all jobs released at once: finished_at -> waiter response p50 / p95",
                     f"{_f(c.get('p50_ms'))} / {_f(c.get('p95_ms'))} ms", f"n={c.get('n')}"))
    elif name == "backlog":
        n, o = d.get("only_lost", {}), d.get("baseline_resend_overdue", {})
        rows += [
            (name, f"sweeper duplicate deliveries, {d.get('jobs')} batch children behind a busy pool",
             f"{n.get('duplicates')} ({_f(100 * (n.get('duplicate_ratio') or 0), 2)} %)",
             f"old rule {o.get('duplicates')} ({_f(100 * (o.get('duplicate_ratio') or 0), 1)} %) in the same "
             f"{_f(_g(d, 'config', 'window'), 0)} s"),
            (name, "really lost messages found by the sweeper", f"{n.get('lost_found')} / {d.get('lost')}", ""),
        ]
    elif name == "pipeline":
        raw = _g(d, "raw_send_and_process", "messages_per_s")
        e2e = d.get("end_to_end", {})
        limit = d.get("floor_bound", {})
        rows += [
            (name, "raw Dramatiq no-op, sending and processing at once, messages/s", _f(raw), "baseline"),
            (name, "raw Dramatiq no-op, processing only: in-process Worker / dramatiq CLI, messages/s",
             f"{_f(_g(d, 'raw_in_process', 'messages_per_s'))} / {_f(_g(d, 'raw_cli', 'messages_per_s'))}", ""),
            (name, f"end to end echo, jobs/s ({e2e.get('clients')} HTTP clients, long-poll)", _f(e2e.get("jobs_per_s")),
             f"ratio {_f(d.get('ratio_e2e_to_raw'), 3)} (to processing only "
             f"{_f(d.get('ratio_e2e_to_raw_processing_only'), 3)})"),
            (name, "floor of the shape (HTTP + 4 transactions + Dramatiq, nothing else), jobs/s",
             _f(limit.get("max_jobs_per_s")), f"max ratio {_f(d.get('max_ratio_of_the_shape'), 3)}; "
             f"{_f(limit.get('floor_cpu_ms_per_job'), 2)} ms CPU/job"),
            (name, "end to end p50 / p95 per job", f"{_f(_g(e2e, 'latency', 'p50_ms'))} / "
             f"{_f(_g(e2e, 'latency', 'p95_ms'))} ms", ""),
        ]
        if d.get("end_to_end_with_work"):
            w = d["end_to_end_with_work"]
            rows.append((name, f"equal work: echo delay_ms={_g(d, 'config', 'work_ms')}, open loop, jobs/s",
                         _f(w.get("jobs_per_s")),
                         f"raw sleeping actor {_f(_g(d, 'raw_with_work', 'messages_per_s'))}/s; "
                         f"ratio {_f(d.get('ratio_with_work'), 3)}"))
        rows.append((name, "open loop (POST only), jobs/s", _f(_g(d, "open_loop", "jobs_per_s")),
                     f"ratio {_f(d.get('ratio_open_loop_to_raw'), 3)}"))
        for label, p in (d.get("polling") or {}).items():
            rows.append((name, f"GET /jobs/{{id}} {p.get('pollers')} pollers, {label}: p50 / p99",
                         f"{_f(_g(p, 'latency', 'p50_ms'))} / {_f(_g(p, 'latency', 'p99_ms'))} ms",
                         f"{_f(p.get('requests_per_s'))} req/s"))
        nd = _g(d, "notify_delay", "succeeded_seen") or {}
        rows.append((name, "long-poll: commit of succeeded -> client sees it, p50 / p95",
                     f"{_f(nd.get('p50_ms'))} / {_f(nd.get('p95_ms'))} ms", f"n={nd.get('n')}"))
        rss = d.get("rss", {})
        growth = rss.get("growth_1k_to_final_mb", {})
        rows.append((name, "worker RSS growth 1k -> final jobs (per process)",
                     ", ".join(f"{v:+.1f} MB" for v in growth.values()) or "-",
                     f"bound < {_f(rss.get('bound_mb'), 0)} MB: {'within' if rss.get('within_bound') else 'OUTSIDE'}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", default="", help="comma-separated: previews,writeback,batches,watchers,backlog,pipeline")
    for b in BENCHES:
        ap.add_argument(f"--{b}-args", default="", help=f"extra arguments for bench_{b}")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    runs: dict[str, Any] = {}
    for name in BENCHES:
        if name in skip:
            continue
        if not _exists(name):
            print(f"\n===== bench_{name}: module not present, skipped", flush=True)
            continue
        runs[name] = _run(name, shlex.split(getattr(args, f"{name}_args")))
    rows: list[tuple[str, ...]] = [("benchmark", "measure", "figure", "baseline / ratio")]
    for name, r in runs.items():
        rows.extend(rows_for(name, r))
    print("\n===== all benchmarks (figures from this run; details above and in tests/bench/results/*.json)")
    print(table(rows))
    print("\n" + ", ".join(f"bench_{n}: exit {r['rc']} in {r['seconds']:.0f}s" for n, r in runs.items()))
    emit("all", {"runs": {n: {"rc": r["rc"], "seconds": r["seconds"], "result": r["result"]} for n, r in runs.items()},
                 "table": [list(r) for r in rows]})
    return 0 if all(r["rc"] == 0 for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
