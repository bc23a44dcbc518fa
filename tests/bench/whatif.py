"""What-if measurements for the hot-path changes the profile suggests, without touching application code:
each proposal is applied by monkeypatching *in this process only*, and the real request (Flask test client)
or the real job runner (`workers.runner.run_job`) is timed before and after, single-threaded, in rounds
interleaved so that machine load hits every variant alike.

Proposals measured (see tests/bench/RESULTS.md for the code changes they stand for):
  web  A auth: cache the token -> principal lookup (TTL) instead of one system-scope transaction per request
       B GET: serialize the job once (today job_to_dict + job_etag run twice on a 200)
       C pool: no pre-ping on checkout (pool_pre_ping=False)  [shown for scale, not proposed as is]
  work D claim/complete as prebuilt Core statements on the jobs table (no per-call statement building,
         no ORM bulk-UPDATE synchronize step, no ORM entity load for RETURNING)
       E metrics: one HINCRBY per histogram (non-cumulative buckets, summed at scrape) instead of one per bucket
  and the micro-costs of single steps (serialization, ETag, auth lookup, an empty scoped transaction,
       the per-long-poll Redis connection + SUBSCRIBE/UNSUBSCRIBE of ChangeWaiter)

Run: .venv/bin/python -m tests.bench.whatif [--n 300] [--rounds 3]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, func, or_, text, update

from tests.bench.harness import emit, stack, table


def timed(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call of this process."""
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.process_time() - c0) * 1000 / n, (time.perf_counter() - w0) * 1000 / n


# ------------------------------------------------------------------------------------------ proposals as patches
def cached_authenticate(original: Callable[[], Any], ttl_s: float = 30.0) -> Callable[[], Any]:
    """A: principal by token hash from a per-process TTL cache; the DB lookup only on a miss."""
    from flask import g, request

    from shared.security.tokens import hash_token

    cache: dict[str, tuple[float, Any]] = {}

    def authenticate() -> Any:
        cached = g.get("principal")
        if cached is not None:
            return cached
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        key = hash_token(token)
        hit = cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            g.principal = hit[1]
            return hit[1]
        p = original()
        cache[key] = (now + ttl_s, p)
        return p

    return authenticate


def single_serialization_get() -> Callable[..., Any]:
    """B: GET /jobs/{id} that builds the body and the ETag once and reuses them for the response."""
    from flask import Response, jsonify, request

    from shared.jobs.serialize import job_etag, job_to_dict
    from web.blueprints import jobs as jobs_bp

    def get(job_id: uuid.UUID) -> Any:
        wait = jobs_bp.parse_query(jobs_bp.JobWait).wait
        job = jobs_bp.load_job(job_id)
        body = job_to_dict(job)
        etag = job_etag(body)
        inm = request.headers.get("If-None-Match")
        if wait and (inm is None or inm == etag) and job.status not in ("succeeded", "failed", "cancelled"):
            job = jobs_bp._wait_for_change(job_id, inm or etag, wait) or job
            body = job_to_dict(job)
            etag = job_etag(body)
        if inm is not None and inm == etag:
            r = Response(status=304)
            r.headers["ETag"] = etag
            return r
        response = jsonify(body)
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"
        return response

    return get


def core_claim_and_complete() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """D: the same SQL as workers.runner.claim / JobContext.complete, built once as Core statements."""
    from db.engine import transaction
    from db.models import Job

    jobs = Job.__table__
    claim_stmt = (
        update(jobs)
        .where(jobs.c.id == bindparam("job_id"), jobs.c.status.in_(("queued", "retrying")),
               or_(jobs.c.next_attempt_at.is_(None), jobs.c.next_attempt_at <= func.now()))
        .values(status="running", attempts=jobs.c.attempts + 1,
                started_at=func.coalesce(jobs.c.started_at, func.now()), heartbeat_at=func.now(),
                claim_token=bindparam("token"))
        .returning(*jobs.c)
    )
    complete_stmt = (
        update(jobs)
        .where(jobs.c.id == bindparam("job_id"), jobs.c.claim_token == bindparam("token"), jobs.c.status == "running")
        .values(status="succeeded", result=bindparam("result", type_=jobs.c.result.type), error=None,
                finished_at=func.now(), claim_token=None)
        .returning(jobs.c.id)
    )

    def claim(res: Any, scope: Any, job_id: uuid.UUID, token: uuid.UUID) -> Any:
        with transaction(res.engine, scope) as db:
            return db.execute(claim_stmt, {"job_id": job_id, "token": token}).first()

    def complete(self: Any, db: Any, result: dict[str, Any]) -> None:
        from workers.context import FencedOut

        done = db.execute(complete_stmt, {"job_id": self.job_id, "token": self.claim_token,
                                          "result": result}).first()
        if done is None:
            raise FencedOut(str(self.job_id))
        self.completed = True

    return claim, complete


def compact_metrics() -> Callable[..., None]:
    """E: one HINCRBY per observation (its own bucket) + sum; cumulative counts are built at scrape time."""
    import redis

    from shared.metrics import DURATION_BUCKETS, SEP, key

    def bucket(value: float) -> str:
        for le in DURATION_BUCKETS:
            if value <= le:
                return str(le)
        return "+Inf"

    def record_job_finished(client: Any, namespace: str, *, kind: str, status: str, duration_s: float | None,
                            wait_s: float | None) -> None:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hincrby(key(namespace, "jobs_finished_total"), f"{kind}{SEP}{status}", 1)
            for name, v in (("job_duration_seconds", duration_s), ("job_queue_wait_seconds", wait_s)):
                if v is not None:
                    h = key(namespace, name)
                    pipe.hincrby(h, f"{kind}{SEP}{bucket(v)}", 1)
                    pipe.hincrbyfloat(h, f"{kind}{SEP}sum", v)
            pipe.execute()
        except redis.RedisError:
            pass

    return record_job_finished


# ------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=150, help="calls per variant per round")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    n, rounds = args.n, args.rounds
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}

    def record(group: str, variant: str, value: tuple[float, float]) -> None:
        results.setdefault(group, {}).setdefault(variant, []).append(value)

    with stack() as st:
        import web.auth as auth_mod
        import workers.context as ctx_mod
        import workers.runner as runner_mod
        from db.engine import make_engine
        from shared.jobs.notify import ChangeWaiter
        from workers.handlers import HANDLERS
        from workers.resources import Resources

        app = st.app
        state = app.extensions["flowpilot"]
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        client = app.test_client()

        def submit(i: int) -> str:
            r = client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"i": i}}, headers=h)
            return str(r.get_json()["job"]["id"])

        done_id = submit(0)
        res = Resources.create(st.settings)
        runner_mod.run_job(res, HANDLERS["system.echo"], done_id, str(t.account_id))
        etag = client.get(f"/api/v1/jobs/{done_id}", headers=h).headers["ETag"]
        url = f"/api/v1/jobs/{done_id}"

        original_auth = auth_mod.authenticate
        original_get = app.view_functions["jobs.get"]
        original_engine = state.engine
        no_ping_engine = make_engine(st.settings.database_url, pool_pre_ping=False)
        fast_get = single_serialization_get()
        # keep the decorators (auth + roles) around the faster view: re-wrap it like the blueprint does
        fast_view = auth_mod.require(*auth_mod.L1_UP, operator=True)(fast_get)

        def get_200(i: int) -> None:
            assert client.get(url, headers=h).status_code == 200

        def get_304(i: int) -> None:
            assert client.get(url, headers={**h, "If-None-Match": etag}).status_code == 304

        web_variants: list[tuple[str, Callable[[], None]]] = [
            ("as is", lambda: None),
            ("A auth cache", lambda: setattr(auth_mod, "authenticate", cached_authenticate(original_auth))),
            ("B serialize once", lambda: app.view_functions.__setitem__("jobs.get", fast_view)),
            ("A+B", lambda: (setattr(auth_mod, "authenticate", cached_authenticate(original_auth)),
                             app.view_functions.__setitem__("jobs.get", fast_view))),
            ("A+B+C no pre-ping", lambda: (setattr(auth_mod, "authenticate", cached_authenticate(original_auth)),
                                           app.view_functions.__setitem__("jobs.get", fast_view),
                                           setattr(state, "engine", no_ping_engine))),
        ]

        def reset_web() -> None:
            auth_mod.authenticate = original_auth
            app.view_functions["jobs.get"] = original_get
            state.engine = original_engine

        def post(i: int) -> None:
            submit(i)

        print("[whatif] web: GET 200 / GET 304 / POST", flush=True)
        rng = random.Random(8)
        for _ in range(rounds):
            for name, apply in rng.sample(web_variants, len(web_variants)):  # shuffled: load drift hits all alike
                reset_web()
                apply()
                for fn in (get_200, get_304):
                    timed(fn, 20)
                record("GET /jobs/{id} 200", name, timed(get_200, n))
                record("GET /jobs/{id} 304", name, timed(get_304, n))
                if name in ("as is", "A auth cache", "A+B+C no pre-ping"):
                    record("POST /jobs", name, timed(post, n // 2))
            reset_web()

        # ---------------------------------------------------------------- worker
        print("[whatif] worker: run_job(system.echo)", flush=True)
        claim0, complete0, metrics0 = runner_mod.claim, ctx_mod.JobContext.complete, runner_mod.record_job_finished
        claim1, complete1 = core_claim_and_complete()
        metrics1 = compact_metrics()
        echo = HANDLERS["system.echo"]
        acct = str(t.account_id)
        worker_variants: list[tuple[str, Callable[[], None]]] = [
            ("as is", lambda: None),
            ("D core statements", lambda: (setattr(runner_mod, "claim", claim1),
                                           setattr(ctx_mod.JobContext, "complete", complete1))),
            ("E compact metrics", lambda: setattr(runner_mod, "record_job_finished", metrics1)),
            ("D+E", lambda: (setattr(runner_mod, "claim", claim1), setattr(ctx_mod.JobContext, "complete", complete1),
                             setattr(runner_mod, "record_job_finished", metrics1))),
        ]

        def reset_worker() -> None:
            runner_mod.claim, ctx_mod.JobContext.complete, runner_mod.record_job_finished = claim0, complete0, metrics0

        ran: list[str] = []
        for _ in range(rounds):
            for name, apply in rng.sample(worker_variants, len(worker_variants)):
                reset_worker()
                ids = [submit(10_000 + i) for i in range(n + 10)]
                ran.extend(ids)
                apply()
                for j in ids[:10]:
                    runner_mod.run_job(res, echo, j, acct)
                todo = ids[10:]
                record("worker run_job(echo)", name,
                       timed(lambda i, todo=todo: runner_mod.run_job(res, echo, todo[i], acct), n))
            reset_worker()
        # correctness of the Core variant: the jobs it ran are succeeded with their result
        from sqlalchemy import select

        from db.engine import tenant, transaction
        from db.models import Job

        with transaction(res.engine, tenant(t.account_id)) as db:
            bad = db.execute(select(func.count()).select_from(Job).where(
                Job.status != "succeeded", Job.id.in_([uuid.UUID(j) for j in ran]))).scalar_one()
        # ---------------------------------------------------------------- micro-costs of single steps
        print("[whatif] micro-costs", flush=True)
        from flask import jsonify

        from db.engine import SYSTEM
        from db.models import ApiToken, User
        from shared.jobs.serialize import job_etag, job_to_dict
        from shared.security.tokens import hash_token

        with transaction(res.engine, tenant(t.account_id)) as db:
            job_row = db.get(Job, uuid.UUID(done_id))
        token = t.tokens["admin"]
        body = job_to_dict(job_row)

        def auth_lookup(i: int) -> None:
            with transaction(state.engine, SYSTEM) as db:
                db.execute(select(User.id, User.account_id, User.role, User.is_operator)
                           .join(ApiToken, ApiToken.user_id == User.id)
                           .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
                                  User.is_active)).first()

        def select1_tx(i: int) -> None:
            with transaction(state.engine, tenant(t.account_id)) as db:
                db.execute(text("SELECT 1"))

        def one_select_tx(i: int) -> None:
            with transaction(state.engine, tenant(t.account_id)) as db:
                db.get(Job, uuid.UUID(done_id))

        micro: list[tuple[str, Callable[[int], Any]]] = [
            ("job_to_dict(job)", lambda i: job_to_dict(job_row)),
            ("job_etag(body)", lambda i: job_etag(body)),
            ("jsonify(body) (app context)", lambda i: jsonify(body)),
            ("hash_token + dict lookup (cache hit)", lambda i: {}.get(hash_token(token))),
            ("auth lookup transaction (as authenticate)", auth_lookup),
            ("scoped transaction + SELECT 1 (fixed cost of a transaction)", select1_tx),
            ("transaction with scope + session.get(Job)", one_select_tx),
            ("ChangeWaiter open+close (per long-poll)",
             lambda i: ChangeWaiter(state.redis, state.namespace, uuid.uuid4()).close()),
        ]
        with app.app_context():
            for _ in range(rounds):
                for name, fn in micro:
                    timed(fn, 10)
                    record("micro: " + name, "as is", timed(fn, n))
        res.dispose()
        no_ping_engine.dispose()

    # ---------------------------------------------------------------- report
    rows: list[tuple[str, ...]] = [("operation", "variant", "CPU ms", "wall ms", "CPU vs as is", "wall vs as is")]
    summary: dict[str, Any] = {}
    for group, variants in results.items():
        if len(variants) == 1:
            vals = variants["as is"]
            cpu, wall = statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals)
            rows.append((group, "", f"{cpu:.3f}", f"{wall:.3f}", "", ""))
            summary.setdefault(group, {})["as is"] = {"cpu_ms": cpu, "wall_ms": wall, "rounds": vals}
            continue
        variants = dict(sorted(variants.items(), key=lambda kv: (kv[0] != "as is", len(kv[0]), kv[0])))
        base_cpu = statistics.median(v[0] for v in variants["as is"])
        base_wall = statistics.median(v[1] for v in variants["as is"])
        for name, vals in variants.items():
            cpu = statistics.median(v[0] for v in vals)
            wall = statistics.median(v[1] for v in vals)
            rows.append((group, name, f"{cpu:.3f}", f"{wall:.3f}", f"{100 * (cpu / base_cpu - 1):+.0f}%",
                         f"{100 * (wall / base_wall - 1):+.0f}%"))
            summary.setdefault(group, {})[name] = {"cpu_ms": cpu, "wall_ms": wall, "rounds": vals}
    print(table(rows))
    print(f"jobs run by the worker variants that did not end succeeded (must be 0): {bad}")
    emit("whatif", {"n": n, "rounds": rounds, "results": summary, "worker_variant_failures": bad})
    return summary


if __name__ == "__main__":
    main()
