"""200 writebacks while a loop SIGKILLs a random worker process every 200-500 ms and restarts it."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.chaos.common import (
    ChaosCwSimulator,
    check_writebacks,
    parallel,
    partial_rows,
    post_resolution,
    setup_writebacks,
)
from tests.chaos.conftest import admin_db_url
from tests.chaos.infra import WorkerKiller, make_tenant, running_stack, wait_terminal

pytestmark = pytest.mark.chaos

JOBS = 200
FIRST_TICKET = 70_001
SUBMIT_S = 20.0  # the POSTs are spread over this window, so work flows through the whole kill period
KILL_AFTER_SUBMIT_S = 10.0  # keep killing at least this long after the last POST...
MIN_KILLS = 20  # ...and until this many SIGKILLs landed (a restart takes seconds on a loaded 2-core box)...
KILL_MAX_AFTER_SUBMIT_S = 60.0  # ...but never longer than this
WORKER_COMMANDS = 3  # independent `dramatiq workers.main --processes 2 --threads 4` (hosts / containers)
SIM_LATENCY_S = 0.05  # per ConnectWise call, so jobs are mid-flight (mid-POST) when the kills land
IGNORED = {FIRST_TICKET + i for i in (7, 49, 98, 141, 187)}  # PATCH acknowledged, status silently unchanged


def test_writebacks_survive_random_worker_sigkills(database, shared_config, log_dir, chaos_report):
    started = time.monotonic()
    tickets = [FIRST_TICKET + i for i in range(JOBS)]
    with ChaosCwSimulator() as sim, running_stack(shared_config, log_dir, worker_commands=WORKER_COMMANDS) as stack:
        sim.ignore_patch_for = set(IGNORED)
        sim.delay_s = SIM_LATENCY_S
        setup = setup_writebacks(stack.base_url, make_tenant(database["system"]), sim, tickets)
        t0 = time.monotonic()

        def submit(i: int) -> str:
            time.sleep(max(0.0, t0 + SUBMIT_S * i / JOBS - time.monotonic()))
            return post_resolution(stack.base_url, setup, tickets[i])

        with WorkerKiller(stack, interval=(0.2, 0.5), seed=1) as killer:
            job_ids = parallel(submit, range(JOBS))
            submitted = time.monotonic()
            while (waited := time.monotonic() - submitted) < KILL_MAX_AFTER_SUBMIT_S and (
                    waited < KILL_AFTER_SUBMIT_S or killer.total < MIN_KILLS):
                time.sleep(0.1)
        assert not killer.errors, killer.errors
        jobs = dict(zip(tickets, job_ids, strict=True))
        rows = wait_terminal(admin_db_url(database["name"]), job_ids, timeout=150)
        diagnostics = stack.diagnostics()
        sim_posts = sim.count("POST", "notes")
        odd_posts = [(r.path, r.status, r.fault) for r in sim.request_log
                     if r.method == "POST" and r.endpoint == "notes" and r.status not in (200, 201)]

    check = check_writebacks(rows, jobs, sim, IGNORED)
    attempts = Counter(r["attempts"] for r in rows.values())
    adopted = sum(1 for r in rows.values() if (r["steps"] or {}).get("note_posted", {}).get("adopted"))
    lost_workers = sum(1 for r in rows.values() if r["attempts"] > 1)
    chaos_report(
        scenario="writebacks under worker SIGKILL", jobs=JOBS,
        faults=f"{killer.total} SIGKILL ({killer.kills['parent']} parent), {len(IGNORED)} patch_ignored",
        duplicates=check.duplicates, lost=check.lost, stuck=check.stuck, seconds=time.monotonic() - started,
        note=f"{killer.restarts} worker restarts; attempts {dict(sorted(attempts.items()))}; "
             f"{lost_workers} jobs re-run, {adopted} notes adopted; {sim_posts} note POSTs for {JOBS} tickets"
             f"{f' ({len(odd_posts)} cut off by a kill, answered {sorted({p[1] for p in odd_posts})})' if odd_posts else ''}; "
             f"{killer.skipped} kill ticks skipped (nothing booted)")
    assert not check.problems, (check.problems[:20], odd_posts, diagnostics)
    assert not partial_rows(rows)
    assert sum(1 for r in rows.values() if r["status"] == "failed") == len(IGNORED)
    assert killer.total >= MIN_KILLS  # the loop really ran
