"""The end-to-end phase of bench_pipeline alone, for iterating on the hot path (about 40 s).

Same stack (realstack: gunicorn + `dramatiq workers.main` subprocesses, throwaway database), same client
(aioclient: POST + long-poll per job), same CPU accounting; no raw baseline, so report CPU per job, not ratios.
`--profile web|workers` records py-spy (GIL-holder samples) of those processes to tests/bench/results/profiles/.

Run: .venv/bin/python -m tests.bench.bench_e2e [--jobs 2000] [--clients 24] [--profile web]
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

from tests.bench import aioclient, procstat
from tests.bench.harness import emit, table
from tests.bench.realstack import ROOT, real_stack


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=24)
    ap.add_argument("--web-threads", type=int, default=16)
    ap.add_argument("--profile", choices=("web", "workers"), default=None)
    ap.add_argument("--server", choices=("gevent", "gthread"), default="gevent",
                    help="web serving model: gevent (the Procfile's) or gthread 2 x 16 (before issue 14)")
    ap.add_argument("--tenant-rate-limit", default=None, help="FLOWPILOT_TENANT_RATE_LIMIT ('' = off); default: "
                    "counted but never reached")
    ap.add_argument("--max-waits-per-token", type=int, default=None, help="FLOWPILOT_MAX_WAITS_PER_TOKEN (0 = off)")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.tenant_rate_limit is not None:
        overrides["flowpilot_tenant_rate_limit"] = args.tenant_rate_limit
    if args.max_waits_per_token is not None:
        overrides["flowpilot_max_waits_per_token"] = args.max_waits_per_token
    with real_stack(web_threads=args.web_threads, log_level="INFO", server=args.server, **overrides,
                    worker_env={"dramatiq_worker_timeout": "100"}) as st:
        t = st.tenant()
        token = t.tokens["admin"]
        aioclient.closed_loop(st.base_url, token, 300, args.clients)  # warm-up
        backends: set[int] = set()
        stop = threading.Event()

        def watch() -> None:  # connection churn shows as many distinct backends
            while not stop.wait(0.2):
                backends.update(procstat.postgres_backends(st.db_name))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        profilers = _profilers(st, args.profile)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        result = aioclient.closed_loop(st.base_url, token, args.jobs, args.clients, start=1_000_000)
        result["cpu"] = meter.stop(result["wall_s"])
        stop.set()
        for p in profilers:
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
    result.pop("ids")
    result["distinct_postgres_backends"] = len(backends)
    result["config"] = {"server": args.server, **overrides}
    print(f"{result['jobs_per_s']:.1f} jobs/s; p50/p95 {result['latency']['p50_ms']:.0f} / "
          f"{result['latency']['p95_ms']:.0f} ms; {result['gets_per_job']:.2f} GET per job; errors {result['errors']}; "
          f"statuses {result['statuses']}; {len(backends)} distinct Postgres backends seen")
    print(table(procstat.cpu_table_rows(result["cpu"], per=result["jobs"])))
    emit("e2e", result)
    return result


def _profilers(st: Any, which: str | None) -> list[subprocess.Popen[bytes]]:
    if which is None:
        return []
    spy = shutil.which("py-spy", path=str(ROOT / ".venv" / "bin")) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed (.venv/bin/pip install py-spy)")
    out = ROOT / "tests" / "bench" / "results" / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    pids = st.web_pids() if which == "web" else st.worker_pids()
    procs = [subprocess.Popen([spy, "record", "--format", "raw", "-r", "250", "--gil", "--nonblocking",
                               "-o", str(out / f"e2e-{which}-{pid}.txt"), "--pid", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    time.sleep(1)
    return procs


if __name__ == "__main__":
    main()
