"""Profile the hot path on the real processes with py-spy: the gunicorn web worker serving GET /jobs/{id} and
POST /jobs, and a dramatiq worker process running system.echo jobs.

For each scenario a load runs against the real stack (tests/bench/realstack.py) while `py-spy record
--format raw` samples one process; the collapsed stacks are saved under tests/bench/results/profiles/ and
summarised: samples per bucket of the hot path (auth lookup, scope set_config, pool checkout + pre-ping,
commit, serialization, ETag, Redis pub/sub, logging, ...) and the top functions by inclusive time.

Run: .venv/bin/python -m tests.bench.profile_hot_path [--seconds 15] [--rate 200] [--idle]
Needs py-spy (`.venv/bin/pip install py-spy`) and permission to ptrace the processes (root, or same user).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.bench_pipeline import Api, closed_loop
from tests.bench.harness import table
from tests.bench.realstack import ROOT, RealStack, real_stack

OUT = ROOT / "tests" / "bench" / "results" / "profiles"

# (bucket, substrings of a frame): buckets are exclusive; the first bucket (in this order) with a pattern anywhere
# in the stack takes the sample, so whole app-level steps (auth, claim, ...) come first and the framework last.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("auth: token lookup, own transaction", ("authenticate (web/auth.py",)),
    ("long-poll: pub/sub connect+subscribe/wait/close", ("ChangeWaiter", "_wait_for_change (web/blueprints/jobs.py")),
    ("worker: claim transaction (UPDATE..RETURNING)", ("claim (workers/runner.py",)),
    ("worker: complete transaction (fenced UPDATE)", ("complete (workers/context.py", "tx (workers/context.py")),
    ("Redis PUBLISH job-changed", ("publish_change (shared/jobs/notify.py",)),
    ("Dramatiq enqueue (dispatch after commit)", ("send (shared/jobs/dispatch.py",)),
    ("metrics + change notification (one Redis pipeline)", ("add_job_finished", "Pipeline.execute")),
    ("heartbeat thread", ("Heartbeat",)),
    ("scope: SELECT set_config", ("_apply_scope (db/engine.py",)),
    ("pool checkout + pre-ping", ("_checkout (sqlalchemy/pool/base.py", "do_ping (sqlalchemy")),
    ("commit / rollback / close", ("commit (sqlalchemy/orm/session.py", "rollback (sqlalchemy/orm/session.py",
                                   "close (sqlalchemy/orm/session.py", "_finish (web/db.py")),
    ("ETag: json.dumps(sort_keys) + sha1", ("job_etag (shared/jobs/serialize.py",)),
    ("job_to_dict", ("job_to_dict (shared/jobs/serialize.py",)),
    ("jsonify / response JSON", ("jsonify (flask", "job_response (web/blueprints/jobs.py", "accepted (web/")),
    ("pydantic parse (body/query)", ("parse_query (web/validation.py", "parse_body (web/validation.py")),
    ("ORM statements (SQL build, execute, load)", ("sqlalchemy/orm/", "sqlalchemy/engine/")),
    ("logging", ("logging/__init__.py",)),
    ("Dramatiq consumer: fetch + idle backoff", ("__next__ (dramatiq/brokers/redis.py", "do_fetch")),
    ("Dramatiq worker machinery (ack, middleware)", ("dramatiq/",)),
    ("framework: gunicorn gthread + werkzeug + flask", ("gunicorn/", "werkzeug/", "flask/")),
]

# Cross-cutting, inclusive (a sample counts for every one of these in its stack).
KEY_FUNCS: list[tuple[str, str]] = [
    ("authenticate()", "authenticate (web/auth.py"),
    ("db.engine._apply_scope (set_config)", "_apply_scope (db/engine.py"),
    ("pool checkout (incl. pre-ping)", "_checkout (sqlalchemy/pool/base.py"),
    ("pre-ping (SELECT 1)", "do_ping (sqlalchemy"),
    ("Session.commit", "commit (sqlalchemy/orm/session.py"),
    ("job_to_dict", "job_to_dict (shared/jobs/serialize.py"),
    ("job_etag", "job_etag (shared/jobs/serialize.py"),
    ("ChangeWaiter.__init__ (new Redis conn + SUBSCRIBE)", "ChangeWaiter.__init__"),
    ("ChangeWaiter.close (UNSUBSCRIBE + disconnect)", "ChangeWaiter.close"),
    ("ChangeWaiter.wait", "ChangeWaiter.wait"),
    ("publish_change", "publish_change (shared/jobs/notify.py"),
    ("Dispatcher.send (enqueue)", "send (shared/jobs/dispatch.py"),
    ("add_job_finished (metrics)", "add_job_finished"),
    ("runner.claim", "claim (workers/runner.py"),
    ("JobContext.complete", "complete (workers/context.py"),
    ("ORM bulk UPDATE machinery", "orm_execute_statement (sqlalchemy/orm/bulk_persistence.py"),
    ("ORM UPDATE synchronize_session evaluate", "sqlalchemy/orm/evaluator.py"),
    ("SQL cache key generation", "_generate_cache_key (sqlalchemy/sql/cache_key.py"),
    ("Dramatiq consumer __next__", "__next__ (dramatiq/brokers/redis.py"),
    ("logging", "logging/__init__.py"),
]


def bucket_of(frames: list[str]) -> str:
    # Innermost match of an app-level bucket wins over outer framework frames: scan buckets in order,
    # but the bucket list is ordered from specific (auth, scope) to generic (gunicorn, flask).
    joined = ";".join(frames)
    for name, pats in BUCKETS:
        if any(p in joined for p in pats):
            return name
    return "other"


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():  # a truncated last line of a recording
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        out.append((frames, int(n)))
    return out


def summarize(path: Path, top: int = 25, requests: int | None = None, wall_s: float | None = None,
              label: str = "request") -> dict[str, Any]:
    stacks = parse_raw(path)
    total = sum(n for _, n in stacks)
    buckets: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_t: Counter[str] = Counter()
    for frames, n in stacks:
        buckets[bucket_of(frames)] += n
        joined = ";".join(frames)
        for name, pat in KEY_FUNCS:
            if pat in joined:
                keys[name] += n
        for f in set(frames):
            inclusive[f] += n
        if frames:
            self_t[frames[-1]] += n
    return {"file": str(path.relative_to(ROOT)), "samples": total, "requests": requests, "wall_s": wall_s,
            "per": label, "buckets": buckets.most_common(),
            "key_functions": [(name, keys[name]) for name, _ in KEY_FUNCS if keys[name]], "inclusive": inclusive.most_common(top),
            "self": self_t.most_common(top)}


def print_summary(title: str, s: dict[str, Any], rate: int) -> None:
    total = max(1, s["samples"])
    print(f"\n== {title}: {s['samples']} samples ({s['file']})")
    rows: list[tuple[str, ...]] = [("bucket", "samples", "%", f"CPU ms/{s['per']}" if s["requests"] else "")]
    for name, n in s["buckets"]:
        per = (n / rate * 1000 / s["requests"]) if s["requests"] else None
        rows.append((name, str(n), f"{100 * n / total:.1f}", f"{per:.3f}" if per is not None else ""))
    print(table(rows))
    rows = [("key function (inclusive)", "samples", "%", f"CPU ms/{s['per']}" if s["requests"] else "")]
    for name, n in s.get("key_functions", []):
        per = (n / rate * 1000 / s["requests"]) if s["requests"] else None
        rows.append((name, str(n), f"{100 * n / total:.1f}", f"{per:.3f}" if per is not None else ""))
    print(table(rows))
    print("-- top inclusive")
    for f, n in s["inclusive"][:18]:
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("-- top self")
    for f, n in s["self"][:12]:
        print(f"  {100 * n / total:5.1f}%  {f}")


def record(pid: int, seconds: float, rate: int, out: Path, idle: bool) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
           "--format", "raw", "--output", str(out), "--nonblocking"]
    # CPU view: only the thread holding the GIL (samples / rate = Python CPU seconds);
    # wall view: every thread, waiting ones included.
    cmd.append("--idle" if idle else "--gil")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def load_for(seconds: float, fn: Any, clients: int) -> tuple[int, float]:
    """Run fn() from `clients` threads for `seconds`; returns (calls, wall)."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    def loop(k: int) -> None:
        while time.perf_counter() < stop:
            fn()
            counts[k] += 1

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0


def scenario(st: RealStack, api: Api, name: str, target: str, seconds: float, rate: int, idle: bool,
             load: Any, label: str | None = None) -> dict[str, Any]:
    pids = st.web_pids() if target == "web" else st.worker_pids()
    outs, spies = [], []
    for pid in pids:
        out = OUT / f"{name}-{target}-{pid}{'-idle' if idle else ''}.txt"
        outs.append(out)
        spies.append(record(pid, seconds, rate, out, idle))
    time.sleep(0.5)
    calls, wall = load(seconds - 1.0)
    for spy in spies:
        _, err = spy.communicate(timeout=seconds + 30)
        if spy.returncode != 0:
            print(err.decode()[-2000:], file=sys.stderr)
    merged = OUT / f"{name}-{target}{'-idle' if idle else ''}.txt"
    merged.write_text("\n".join(o.read_text().rstrip("\n") for o in outs if o.exists()) + "\n")
    for o in outs:
        o.unlink(missing_ok=True)
    return summarize(merged, requests=calls, wall_s=wall, label=label or ("job" if target == "workers" else "request"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--idle", action="store_true", help="also sample idle/waiting threads (wall-clock view)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with real_stack(processes=args.processes, threads=args.threads, log_level="INFO") as st:
        api = Api(st.base_url, st.tenant().tokens["admin"])
        closed_loop(api, 200, 16)  # warm-up; ids of finished jobs for the GET scenario
        job = api.submit(0)
        body, _ = api.wait_done(job)
        etag = api.get(body["id"]).headers["ETag"]

        def get_plain() -> None:
            api.get(body["id"])

        def get_inm() -> None:
            api.get(body["id"], etag)

        i = [0]

        def post() -> None:
            i[0] += 1
            api.submit(i[0])

        for idle in ([False, True] if args.idle else [False]):
            sfx = " (idle too)" if idle else ""
            results["get_plain" + sfx] = scenario(st, api, "get-plain", "web", args.seconds, args.rate, idle,
                                                  lambda s: load_for(s, get_plain, args.clients))
            results["get_304" + sfx] = scenario(st, api, "get-304", "web", args.seconds, args.rate, idle,
                                                lambda s: load_for(s, get_inm, args.clients))
            # POSTs pile jobs up for the workers; drain them before the next scenario.
            results["post" + sfx] = scenario(st, api, "post", "web", args.seconds, args.rate, idle,
                                             lambda s: load_for(s, post, args.clients))
            while st.count_jobs("queued") + st.count_jobs("running"):
                time.sleep(0.2)

            def e2e_load(s: float) -> tuple[int, float]:
                n0 = st.count_jobs("succeeded")
                t0 = time.perf_counter()
                load_for(s, lambda: api.wait_done(api.submit(0)), 24)
                return st.count_jobs("succeeded") - n0, time.perf_counter() - t0

            # the web during the end-to-end loop: POST + long-polls (pub/sub) per job
            results["web_e2e" + sfx] = scenario(st, api, "e2e", "web", args.seconds, args.rate, idle, e2e_load,
                                                label="job")
            results["worker_echo" + sfx] = scenario(st, api, "echo", "workers", args.seconds, args.rate, idle,
                                                    e2e_load)
    for name, s in results.items():
        print_summary(name, s, args.rate)
    (OUT / "summary.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
