"""Backlog bench (issue 13, item 3): what the sweeper re-sends while 100,000 batch children wait behind a busy
pool, and whether it still finds the messages that really are lost.

Setup: a 100,000-session `regenerate_resolution_note` batch expanded by the real expander; one batch worker
thread (the busy pool) works through the children; `--lost` more children are committed without a message (a web
process that died between its commit and its enqueue). Then the real sweeper runs every `--interval` seconds for
`--window` seconds with `FLOWPILOT_REDISPATCH_AFTER_S = --redispatch-after`. Baseline, same run, same backlog: the
same sweeper told that Redis holds nothing (what the old rule did: re-send every job that waited longer than
the threshold). Duplicate deliveries = messages the sweeper sent for jobs whose message was still in Redis.

Runs against a private redis-server (`--redis-port`), so no other test run can flush the backlog away.

Run: .venv/bin/python -m tests.bench.bench_backlog [--sessions 100000] [--lost 1000] [--window 60]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import AiSession, Job
from shared.jobs.dispatch import Dispatcher, sent_key
from shared.jobs.kinds import BATCH
from shared.jobs.state_machine import NewJob, insert_jobs
from shared.jobs.sweeper import sweep_once
from tests.bench.bench_batches import batch_state, create_batch, seed_sessions
from tests.bench.harness import Stack, emit, stack, table, worker
from tests.chaos.services import PrivateRedis


class BlindDispatcher(Dispatcher):
    """The baseline: believes no message is left in Redis, so every overdue job is sent again (the old rule)."""

    def waiting_in_redis(self, job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID] | None:
        return set()


def commit_without_message(st: Stack, account_id: uuid.UUID, batch_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    engine = st.app.extensions["flowpilot"].engine
    with transaction(engine, tenant_scope(account_id)) as db:
        sessions = list(db.execute(select(AiSession.id).limit(n)).scalars())
        made = insert_jobs(db, [NewJob(kind="preview.resolution_note", account_id=account_id, queue=BATCH,
                                       batch_id=batch_id, session_id=sid,
                                       payload={"kind": "resolution_note", "force": True}) for sid in sessions])
    return [job.id for job, _ in made]


def waiting_jobs(st: Stack) -> int:
    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        return int(db.execute(select(func.count()).select_from(Job).where(
            Job.status.in_(("queued", "retrying")))).scalar_one())


def finished_jobs(st: Stack) -> int:
    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        return int(db.execute(select(func.count()).select_from(Job).where(Job.status == "succeeded")).scalar_one())


def found(st: Stack, ids: list[uuid.UUID]) -> int:
    """Lost jobs that now have a message in Redis, or were already taken by a worker."""
    client = redis.Redis.from_url(st.settings.redis_url)
    try:
        scores = client.zmscore(sent_key(st.settings.flowpilot_redis_namespace), [str(i) for i in ids])
    finally:
        client.close()
    with transaction(st.app.extensions["flowpilot"].engine, SYSTEM) as db:
        taken = set(db.execute(select(Job.id).where(Job.id.in_(ids), Job.status.not_in(("queued",)))).scalars())
    return sum(1 for job_id, score in zip(ids, scores, strict=True) if score is not None or job_id in taken)


def sweeping(st: Stack, dispatcher: Dispatcher, args: argparse.Namespace, check_limit: int) -> dict[str, Any]:
    state = st.app.extensions["flowpilot"]
    sent = verified = sweeps = 0
    seconds: list[float] = []
    done_before = finished_jobs(st)
    deadline = time.monotonic() + args.window
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        report = sweep_once(state.engine, dispatcher, state.redis, state.namespace, stale_after_s=30,
                            redispatch_after_s=args.redispatch_after, limit=args.limit, check_limit=check_limit)
        seconds.append(time.perf_counter() - t0)
        sent += report.redispatched
        verified += report.verified
        sweeps += 1
        time.sleep(max(0.0, args.interval - (time.perf_counter() - t0)))
    return {"sweeps": sweeps, "messages_sent": sent, "checked_and_left_alone": verified,
            "sweep_ms_mean": statistics.fmean(seconds) * 1000, "sweep_ms_max": max(seconds) * 1000,
            "children_processed_meanwhile": finished_jobs(st) - done_before}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--lost", type=int, default=1_000)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--redispatch-after", type=float, default=5.0)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--check-limit", type=int, default=10_000)
    ap.add_argument("--redis-port", type=int, default=56130,
                    help="a private redis-server for the run: the shared one's db 15 is flushed by test suites")
    args = ap.parse_args()
    random.seed(1)
    private = PrivateRedis(args.redis_port).start()
    try:
        run(args, private.url)
    finally:
        private.close()


def run(args: argparse.Namespace, redis_url: str) -> None:
    with stack(redis_url=redis_url) as st:
        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        seed_sessions(st, t.account_id, args.sessions)
        with worker(st.settings, pools={"batch": 1}):  # one thread: the expander, then the busy pool
            t0 = time.perf_counter()
            batch_id = create_batch(st, h, "regenerate_resolution_note")
            while batch_state(st, batch_id)[0] == "expanding":
                time.sleep(0.2)
            expanded_s = time.perf_counter() - t0
            lost = commit_without_message(st, t.account_id, uuid.UUID(batch_id), args.lost)
            jobs = batch_state(st, batch_id)[1] + len(lost)
            time.sleep(args.redispatch_after)  # every message is now "older than the threshold"
            real = Dispatcher.from_url(st.settings.redis_url, st.settings.flowpilot_redis_namespace)
            blind = BlindDispatcher.from_url(st.settings.redis_url, st.settings.flowpilot_redis_namespace)
            try:
                real.new_epoch()  # Redis's epoch as of now: a reset during the run would void the figures
                new = sweeping(st, real, args, args.check_limit)
                new["lost_found"] = found(st, lost)
                new["duplicates"] = new["messages_sent"] - new["lost_found"]
                new["waiting_after"] = waiting_jobs(st)
                old = sweeping(st, blind, args, args.limit)  # the old rule: `limit` overdue jobs re-sent per sweep
                old["duplicates"] = old["messages_sent"]  # nothing was lost any more: every send is a duplicate
                assert not real.new_epoch(), "Redis lost its data during the run: the figures mean nothing"
            finally:
                real.close()
                blind.close()
    for phase in (new, old):
        phase["duplicate_ratio"] = phase["duplicates"] / jobs
    print(table([
        ("sweeper rule", "messages sent", "duplicates", "of jobs", "lost found", "sweep ms mean / max"),
        ("re-send only what Redis lost", str(new["messages_sent"]), str(new["duplicates"]),
         f"{new['duplicate_ratio']:.2%}", f"{new['lost_found']} / {len(lost)}",
         f"{new['sweep_ms_mean']:.0f} / {new['sweep_ms_max']:.0f}"),
        ("baseline: re-send whatever waited", str(old["messages_sent"]), str(old["duplicates"]),
         f"{old['duplicate_ratio']:.2%}", "-", f"{old['sweep_ms_mean']:.0f} / {old['sweep_ms_max']:.0f}"),
    ]))
    print(f"{jobs} children ({len(lost)} committed without a message), expanded in {expanded_s:.0f}s; "
          f"{args.window:.0f}s per rule, a sweep every {args.interval}s, redispatch after {args.redispatch_after}s, "
          f"limit {args.limit} sent / {args.check_limit} checked per sweep; the pool finished {new['children_processed_meanwhile']} / "
          f"{old['children_processed_meanwhile']} children meanwhile")
    emit("backlog", {"jobs": jobs, "lost": len(lost), "expanded_s": expanded_s, "config": vars(args),
                     "only_lost": new, "baseline_resend_overdue": old})


if __name__ == "__main__":
    main()
