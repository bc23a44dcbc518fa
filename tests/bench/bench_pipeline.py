"""The job pipeline beside raw Dramatiq, on the deployment's real processes.

Phases (one run, one Redis, one Postgres, one machine):
1. raw baseline: Dramatiq alone (no HTTP, no Postgres) — N no-op messages sent to a RedisBroker on the same
   Redis (own namespace), then processed by a `dramatiq.Worker` in this process with the same total thread
   count as the pipeline's workers (P x T). Also the same no-op actor under `python -m dramatiq` with the
   pipeline's P processes x T threads (same topology as the pipeline's workers).
2. end to end: gunicorn (gthread, W x 16) + `python -m dramatiq workers.main -p P -t T` subprocesses on a
   throwaway database. C client threads (one requests.Session each) submit `system.echo` jobs over HTTP and
   long-poll each (`?wait=10` + If-None-Match) to `succeeded`: jobs/s, per-job latency, ratio to the raw
   baselines, and CPU seconds per job of every component (what the 2 cores were spent on).
3. long-poll notification delay: jobs with `delay_ms` so the client is surely parked in a long-poll when the
   job finishes; delay = client receive time - the job's `finished_at` (Postgres now() of the completing
   transaction; same machine clock).
4. polling: 200 concurrent pollers (threads) on `GET /jobs/{id}` of finished jobs for a bounded time, without
   and with If-None-Match (200 vs 304 path): p50/p99 and requests/s.
5. worker RSS: jobs are submitted (POST only, open loop) until 10,000 have succeeded in total; the dramatiq
   worker processes' RSS is sampled throughout and reported at boot, after warm-up, at 1k and at 10k jobs,
   against a stated bound (growth from 1k to 10k jobs < 20 MB per process).

No timed assertions: figures are printed and written to tests/bench/results/pipeline.json.

Run: .venv/bin/python -m tests.bench.bench_pipeline [--jobs 2000] [--clients 24] [--processes 2] [--threads 8]
       [--pollers 200] [--poll-seconds 10] [--notify-jobs 100] [--rss-jobs 10000] [--raw-messages 5000]
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from tests.bench import aioclient, procstat
from tests.bench.harness import emit, table
from tests.bench.pipeline_floor import bound, db_floor, http_floor
from tests.bench.pipeline_load import RssSampler, bulk_until, machine_extra, open_loop  # noqa: F401
from tests.bench.pipeline_phases import (  # noqa: F401
    RSS_BOUND_MB,
    TERMINAL,
    Api,
    closed_loop,
    idle_in_transaction,
    notify_delay,
    pollers,
)
from tests.bench.pipeline_raw import raw_baseline, raw_send_and_process
from tests.bench.realstack import real_stack


def _f(x: float, nd: int = 1) -> str:
    return f"{x:.{nd}f}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    extra = machine_extra()
    P, T = args.processes, args.threads
    print(f"[pipeline] raw baseline: {args.raw_messages} no-op messages, {P * T} threads in-process", flush=True)
    raw_in = raw_baseline(args.raw_messages, P, T, in_process=True)
    print(f"[pipeline] raw baseline: the same under `python -m dramatiq` -p {P} -t {T}", flush=True)
    raw_proc = raw_baseline(args.raw_messages, P, T, in_process=False)
    print(f"[pipeline] raw baseline: sending and processing at once ({args.raw_senders} sender thread(s), "
          f"dramatiq CLI -p {P} -t {T})", flush=True)
    raw_sp = raw_send_and_process(args.raw_messages, P, T, senders=args.raw_senders,
                                  worker_timeout_ms=args.worker_timeout_ms)
    raw_work: dict[str, Any] | None = None
    if args.work_jobs:
        print(f"[pipeline] raw baseline with work: {args.work_jobs} messages sleeping {args.work_ms} ms", flush=True)
        raw_work = raw_baseline(args.work_jobs, P, T, in_process=True, sleep_ms=args.work_ms)

    worker_env = {"dramatiq_worker_timeout": str(args.worker_timeout_ms)} if args.worker_timeout_ms else {}
    with real_stack(processes=P, threads=T, web_workers=args.web_workers, web_threads=args.web_threads,
                    log_level=args.log_level, worker_env=worker_env) as st:
        t = st.tenant()
        api = Api(st.base_url, t.tokens["admin"])
        sampler = RssSampler(st)
        sampler.sample("boot")
        sampler.start()
        print(f"[pipeline] stack up at {st.base_url}; warm-up {args.warmup} jobs", flush=True)
        aioclient.closed_loop(st.base_url, t.tokens["admin"], args.warmup, args.clients, start=0)
        sampler.sample("after warm-up")

        print(f"[pipeline] end to end: {args.jobs} jobs, {args.clients} clients", flush=True)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        e2e = aioclient.closed_loop(st.base_url, t.tokens["admin"], args.jobs, args.clients, start=args.warmup)
        e2e["cpu"] = meter.stop(e2e["wall_s"])
        ids = e2e.pop("ids")

        print(f"[pipeline] floor: {args.floor_jobs} jobs through a constant Flask app, and through raw psycopg2",
              flush=True)
        floor_http = http_floor(st, args.floor_jobs, args.clients)
        floor_db = db_floor(st, t.account_id, t.user_ids["admin"], args.floor_jobs, threads=args.floor_db_threads)

        e2e_work: dict[str, Any] | None = None
        if args.work_jobs:
            print(f"[pipeline] equal work, open loop: {args.work_jobs} jobs of delay_ms={args.work_ms}", flush=True)
            meter = procstat.CpuMeter(st.cpu_groups()).start()
            e2e_work = open_loop(st, api, args.work_jobs, args.clients, start=5_000_000, delay_ms=args.work_ms)
            e2e_work["cpu"] = meter.stop(e2e_work["wall_s"])

        print(f"[pipeline] notification delay: {args.notify_jobs} jobs of {args.notify_delay_ms} ms", flush=True)
        notify = notify_delay(api, args.notify_jobs, args.notify_clients, args.notify_delay_ms, st.db_name)

        polls: dict[str, Any] = {}
        for inm in (False, True):
            label = "if_none_match" if inm else "plain"
            print(f"[pipeline] polling: {args.pollers} pollers x {args.poll_seconds}s ({label})", flush=True)
            meter = procstat.CpuMeter(st.cpu_groups()).start()
            polls[label] = pollers(api, ids, args.pollers, args.poll_seconds, inm)
            polls[label]["cpu"] = meter.stop(polls[label]["seconds"])

        print(f"[pipeline] RSS: submitting until {args.rss_jobs} jobs have succeeded", flush=True)
        meter = procstat.CpuMeter(st.cpu_groups()).start()
        bulk = bulk_until(st, api, args.rss_jobs, args.clients, start=10_000_000)
        bulk["cpu"] = meter.stop(bulk["wall_s"])
        sampler.stop()
        final = sampler.sample("final")
        statuses = st.status_counts()

    # ---- RSS report
    pids = sorted(final["workers"])
    milestones = [("boot", sampler.samples[0]), ("after warm-up", next(s for s in sampler.samples if s["label"] == "after warm-up")),
                  ("1k jobs", sampler.at(1000)), (f"{args.rss_jobs // 1000}k jobs", final)]
    rss_rows: list[tuple[str, ...]] = [("sample", "jobs succeeded", *[f"worker {p} MB" for p in pids],
                                        *[f"web {p} MB" for p in sorted(final["web"])])]
    for name, s in milestones:
        if s is None:
            continue
        rss_rows.append((name, str(s["succeeded"]), *[_f(s["workers"].get(p, 0.0)) for p in pids],
                         *[_f(s["web"].get(p, 0.0)) for p in sorted(final["web"])]))
    s1k = sampler.at(1000) or sampler.samples[0]
    growth = {str(p): final["workers"].get(p, 0.0) - s1k["workers"].get(p, 0.0) for p in pids}
    web_growth = {str(p): final["web"].get(p, 0.0) - s1k["web"].get(p, 0.0) for p in final["web"]}
    within = all(g < RSS_BOUND_MB for g in growth.values())

    # ---- tables
    e2e_rate = e2e["jobs_per_s"]
    raw_rate = raw_sp["messages_per_s"]
    limit = bound(floor_http, floor_db, raw_sp, e2e["cpu"])
    rows: list[tuple[str, ...]] = [
        ("measure", "n", "rate /s", "p50 ms", "p95 ms", "p99 ms", "ratio"),
        (f"raw Dramatiq, sending and processing at once (CLI -p {P} -t {T}, {args.raw_senders} sender)",
         str(raw_sp["messages"]), _f(raw_rate), "", "", "", "1.00"),
        (f"  processing only, in-process Worker ({P * T} threads; sent beforehand)", str(raw_in["messages"]),
         _f(raw_in["messages_per_s"]), "", "", "", ""),
        (f"  processing only, dramatiq CLI -p {P} -t {T} (sent beforehand)", str(raw_proc["messages"]),
         _f(raw_proc["messages_per_s"]), "", "", "", ""),
        ("  sending only (1 producer thread)", str(raw_in["messages"]), _f(raw_in["send_per_s"]), "", "", "", ""),
        (f"end to end, {args.clients} HTTP clients (submit + long-poll)", str(e2e["jobs"]), _f(e2e_rate),
         _f(e2e["latency"]["p50_ms"]), _f(e2e["latency"]["p95_ms"]), _f(e2e["latency"]["p99_ms"]),
         _f(e2e_rate / raw_rate, 3)),
        ("  ratio to processing only: in-process Worker / dramatiq CLI", "", "", "", "", "",
         f"{e2e_rate / raw_in['messages_per_s']:.3f} / {e2e_rate / raw_proc['messages_per_s']:.3f}"),
        (f"  HTTP requests per job: 1 POST + {e2e['gets_per_job']:.2f} GET (long-polls)", "", "", "", "", "", ""),
        ("floor: constant Flask app under the same gunicorn, same client (POST + GET)", str(floor_http["jobs"]),
         _f(floor_http["jobs_per_s"]), "", "", "", _f(floor_http["jobs_per_s"] / raw_rate, 3)),
        (f"floor: 4 transactions per job, raw psycopg2, {args.floor_db_threads} threads", str(floor_db["jobs"]),
         _f(floor_db["jobs_per_s"]), "", "", "", _f(floor_db["jobs_per_s"] / raw_rate, 3)),
        (f"floor: all three parts' CPU ({limit['floor_cpu_ms_per_job']:.2f} ms/job) on the "
         f"{limit['usable_cores']:.2f} cores end to end had", "", _f(limit["max_jobs_per_s"]), "", "", "",
         _f(limit["max_jobs_per_s"] / raw_rate, 3)),
        (f"open loop: POST only, {args.clients} clients (RSS phase)", str(bulk["jobs"]), _f(bulk["jobs_per_s"]),
         "", "", "", _f(bulk["jobs_per_s"] / raw_rate, 3)),
    ]
    if raw_work is not None and e2e_work is not None:
        rows.append((f"raw Dramatiq, actor sleeping {args.work_ms} ms ({P * T} threads)", str(raw_work["messages"]),
                     _f(raw_work["messages_per_s"]), "", "", "", "1.00"))
        rows.append((f"pipeline, echo delay_ms={args.work_ms}, open loop (POST only)", str(e2e_work["jobs"]),
                     _f(e2e_work["jobs_per_s"]), "", "", "", _f(e2e_work["jobs_per_s"] / raw_work["messages_per_s"], 3)))
    for p in polls.values():
        rows.append((f"GET /jobs/{{id}}, {p['pollers']} pollers, {'If-None-Match (304)' if p['if_none_match'] else 'plain (200)'}",
                     str(p["requests"]), _f(p["requests_per_s"]), _f(p["latency"]["p50_ms"]),
                     _f(p["latency"]["p95_ms"]), _f(p["latency"]["p99_ms"]), ""))
    nd = notify["succeeded_seen"]
    rd = notify["running_seen"]
    rows.append(("long-poll: finished_at -> client sees succeeded", str(nd["n"]), "", _f(nd.get("p50_ms", 0)),
                 _f(nd.get("p95_ms", 0)), _f(nd.get("p99_ms", 0)), ""))
    if rd["n"]:
        rows.append(("long-poll: started_at -> client sees running", str(rd["n"]), "", _f(rd["p50_ms"]),
                     _f(rd["p95_ms"]), _f(rd["p99_ms"]), ""))
    if "peak_idle_in_transaction" in notify:
        rows.append((f"  Postgres connections idle in transaction (> 100 ms) while {args.notify_clients} clients "
                     "long-poll: peak", str(notify["peak_idle_in_transaction"]), "",
                     f"max {notify['max_idle_in_transaction_s'] * 1000:.0f} ms", "", "", ""))
    qw = notify["queue_wait"]
    rows.append(("  same jobs, created_at -> started_at (queue wait)", str(qw["n"]), "", _f(qw["p50_ms"]),
                 _f(qw["p95_ms"]), _f(qw["p99_ms"]), ""))
    print()
    print(table(rows))
    print()
    print(f"CPU per end-to-end job ({e2e['jobs']} jobs in {e2e['wall_s']:.1f} s):")
    print(table(procstat.cpu_table_rows(e2e["cpu"], per=e2e["jobs"])))
    print()
    print("Floor of the shape, CPU per job by part (each measured alone in this run):")
    frows: list[tuple[str, ...]] = [("part", "CPU ms/job")]
    frows += [(k, f"{v:.2f}") for k, v in limit["parts_cpu_ms_per_job"].items()]
    frows.append(("sum: the least CPU a job can cost in this shape", f"{limit['floor_cpu_ms_per_job']:.2f}"))
    e2e_ms = sum(v for k, v in e2e["cpu"].items() if k not in procstat.NOT_GROUPS) * 1000 / e2e["jobs"]
    frows.append(("the pipeline, end to end (all its processes and the client)", f"{e2e_ms:.2f}"))
    print(table(frows))
    print(f"bound: {limit['usable_cores']:.2f} usable cores x 1000 / {limit['floor_cpu_ms_per_job']:.2f} ms = "
          f"{limit['max_jobs_per_s']:.0f} jobs/s = {limit['max_jobs_per_s'] / raw_rate:.3f} of raw Dramatiq "
          f"({limit['max_jobs_per_s_all_cores']:.0f} jobs/s = "
          f"{limit['max_jobs_per_s_all_cores'] / raw_rate:.3f} with both cores free)")
    print()
    print("CPU per raw message (send and process, CLI): " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in raw_sp["cpu_ms_per_message"].items()))
    print("CPU per raw message (in-process Worker): " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in raw_in["cpu_ms_per_message"].items()))
    print("CPU per raw message (dramatiq CLI):      " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in raw_proc["cpu_ms_per_message"].items()))
    for label, p in polls.items():
        print(f"\nCPU per GET ({label}, {p['requests']} requests):")
        print(table(procstat.cpu_table_rows(p["cpu"], per=p["requests"], per_label="request")))
    print()
    print(f"Worker RSS (bound: growth from 1k to {args.rss_jobs} jobs < {RSS_BOUND_MB:.0f} MB per worker process):")
    print(table(rss_rows))
    print("growth 1k -> final, MB: workers " + ", ".join(f"{p}: {g:+.1f}" for p, g in growth.items())
          + "; web " + ", ".join(f"{p}: {g:+.1f}" for p, g in web_growth.items())
          + f"  -> {'within' if within else 'OUTSIDE'} the bound")
    print(f"job statuses at the end: {statuses}; e2e errors: {e2e['errors']}; GETs retried on a closed "
          f"keep-alive connection: {api.retries}")
    others = e2e["cpu"]["machine_cores_busy"] - sum(v for k, v in e2e["cpu"].items()
                                                    if k not in procstat.NOT_GROUPS) / e2e["cpu"]["wall_s"]
    print(f"load average at start {extra['load_avg_at_start']}; during end to end, processes outside this benchmark "
          f"used {others:.2f} of {os.cpu_count()} cores")

    result = {
        "machine_extra": extra,
        "config": {k: v for k, v in vars(args).items()},
        "raw_send_and_process": raw_sp, "raw_in_process": raw_in, "raw_cli": raw_proc, "end_to_end": e2e,
        "floor_http": floor_http, "floor_db": floor_db, "floor_bound": limit,
        "raw_with_work": raw_work, "end_to_end_with_work": e2e_work,
        "ratio_with_work": (e2e_work["jobs_per_s"] / raw_work["messages_per_s"]) if raw_work and e2e_work else None,
        "ratio_e2e_to_raw": e2e_rate / raw_rate,
        "ratio_e2e_to_raw_processing_only": e2e_rate / raw_in["messages_per_s"],
        "max_ratio_of_the_shape": limit["max_jobs_per_s"] / raw_rate,
        "ratio_e2e_to_raw_cli": e2e_rate / raw_proc["messages_per_s"],
        "open_loop": bulk, "ratio_open_loop_to_raw": bulk["jobs_per_s"] / raw_rate,
        "notify_delay": notify, "polling": polls,
        "rss": {"bound_mb": RSS_BOUND_MB, "growth_1k_to_final_mb": growth, "web_growth_1k_to_final_mb": web_growth,
                "within_bound": within, "milestones": {n: s for n, s in milestones if s is not None}},
        "final_statuses": statuses, "get_retries_on_closed_keepalive": api.retries,
    }
    emit(args.out, result)
    return result


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2000, help="end-to-end jobs (closed loop)")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--clients", type=int, default=24, help="concurrent HTTP client threads")
    ap.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (Procfile: 2)")
    ap.add_argument("--threads", type=int, default=8, help="threads per worker process (Procfile: 8)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=16)
    ap.add_argument("--raw-messages", type=int, default=5000)
    ap.add_argument("--raw-senders", type=int, default=1, help="producer threads of the send-and-process baseline")
    ap.add_argument("--floor-jobs", type=int, default=3000, help="jobs through each floor measurement")
    ap.add_argument("--floor-db-threads", type=int, default=8)
    ap.add_argument("--pollers", type=int, default=200)
    ap.add_argument("--poll-seconds", type=float, default=10.0)
    ap.add_argument("--notify-jobs", type=int, default=100)
    ap.add_argument("--notify-clients", type=int, default=10)
    ap.add_argument("--notify-delay-ms", type=int, default=300)
    ap.add_argument("--rss-jobs", type=int, default=10_000, help="total jobs succeeded before the last RSS sample")
    ap.add_argument("--work-ms", type=int, default=100, help="equal-work comparison: sleep per job/message")
    ap.add_argument("--work-jobs", type=int, default=800, help="jobs/messages for the equal-work comparison (0: skip)")
    ap.add_argument("--worker-timeout-ms", type=int, default=100,
                    help="dramatiq_worker_timeout for the pipeline's workers (Procfile: 100; 0: Dramatiq's 1000)")
    ap.add_argument("--log-level", default="INFO", help="FLOWPILOT_LOG_LEVEL of web and workers (deployment: INFO)")
    ap.add_argument("--out", default="pipeline", help="results/<out>.json")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    main()
