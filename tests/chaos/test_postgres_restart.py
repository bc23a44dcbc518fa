"""Postgres restarted (`pg_ctl -m immediate restart`) while jobs flow: nothing lost, partial or stuck."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter

import psycopg2
import pytest
import requests

from tests.chaos.common import parallel, partial_rows, stuck_ids, submit_echo
from tests.chaos.infra import StackConfig, fetch_jobs, make_tenant, running_stack, wait_terminal, wait_until

pytestmark = pytest.mark.chaos

JOBS = 200
SUBMIT_SECONDS = 12.0  # the submissions are spread over this window...
# ...and Postgres is restarted at these offsets into it: once straight through, once down for 3 s.
RESTARTS = ((3.0, 0.0), (7.0, 3.0))  # (offset s, downtime s)


def test_postgres_immediate_restart_mid_run(private_pg, secret_key, chaos_namespace, log_dir, chaos_report):
    from tests.helpers import REDIS_URL

    cluster, urls = private_pg
    started = time.monotonic()
    config = StackConfig(database_url=urls["app"], owner_url=urls["owner"], system_url=urls["system"], redis_url=REDIS_URL,
                         namespace=chaos_namespace, secret_key=secret_key)
    tenant = make_tenant(urls["system"])
    rng = random.Random(3)
    delays = {seq: rng.randint(20, 250) for seq in range(JOBS)}
    restarts: list[float] = []
    with running_stack(config, log_dir) as stack:
        pids = {"web": stack.web.pid, "workers": stack.workers.pid, "clock": stack.clock.pid,
                "worker children": tuple(sorted(stack.workers.children()))}
        t0 = time.monotonic()

        def restarter() -> None:
            for at, downtime in RESTARTS:
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                restarts.append(cluster.restart_immediate(downtime))

        def submit(seq: int) -> str:
            # Paced: job `seq` is sent at its slot in the window, retried with its Idempotency-Key
            # through the outage (a 500 may hide a commit: the key makes the retry find that row).
            time.sleep(max(0.0, t0 + SUBMIT_SECONDS * seq / JOBS - time.monotonic()))
            return submit_echo(stack.base_url, tenant, seq, delay_ms=delays[seq], key_prefix="pg-chaos",
                               deadline_s=60)

        faults = threading.Thread(target=restarter, name="pg-restarter")
        faults.start()
        job_ids = parallel(submit, range(JOBS), workers=12)
        faults.join()
        rows = wait_terminal(urls["admin"], job_ids, timeout=90)
        # Web and workers reconnected by themselves: same processes, and a fresh job goes through.
        wait_until(lambda: requests.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200, timeout=15,
                   what="web healthy after the restarts")
        probe = submit_echo(stack.base_url, tenant, JOBS, key_prefix="pg-chaos-probe")
        probe_row = wait_terminal(urls["admin"], [probe], timeout=30)[probe]
        after = {"web": stack.web.pid, "workers": stack.workers.pid, "clock": stack.clock.pid,
                 "worker children": tuple(sorted(stack.workers.children()))}
        alive = stack.web.alive() and stack.workers.alive() and stack.clock.alive()
        diagnostics = stack.diagnostics()

    all_rows = fetch_jobs(urls["admin"])
    per_seq = Counter(r["payload"]["payload"]["seq"] for r in all_rows.values() if r["kind"] == "system.echo")
    missing = [seq for seq in range(JOBS) if per_seq[seq] == 0]
    duplicated = [seq for seq in range(JOBS) if per_seq[seq] > 1]
    # Exactly once: the success on record was written by the last claim, and only one row per request.
    rerecorded = [j for j, r in rows.items() if r["status"] == "succeeded" and r["result"]["attempt"] != r["attempts"]]
    stuck = stuck_ids(rows, job_ids)
    not_ok = [j for j, r in rows.items() if r["status"] != "succeeded" and j not in stuck]
    wrong = [j for j, r in rows.items() if r["status"] == "succeeded" and r["result"]["echo"] != {"seq": r["payload"]["payload"]["seq"]}]
    partial = partial_rows(all_rows)
    retried = sum(1 for r in rows.values() if r["attempts"] > 1)
    chaos_report(scenario="postgres immediate restart", jobs=JOBS,
                 faults=f"{len(restarts)} pg_ctl -m immediate restart", duplicates=len(duplicated) + len(rerecorded),
                 lost=len(missing) + len(not_ok) + len(wrong), stuck=len(stuck), seconds=time.monotonic() - started,
                 note=f"outages {', '.join(f'{s:.1f}s' for s in restarts)}; {retried} jobs needed a second attempt; "
                      f"partial rows: {len(partial)}")
    assert len(restarts) == len(RESTARTS)
    assert not missing and not stuck and not not_ok, (missing, stuck, [rows[j] for j in not_ok[:5]], diagnostics)
    assert not duplicated and not rerecorded, (duplicated, [rows[j] for j in rerecorded[:5]])
    assert not wrong and not partial, (wrong, partial[:10])
    assert probe_row["status"] == "succeeded"
    assert alive and after == pids, (pids, after, diagnostics)
    with psycopg2.connect(urls["admin"]) as conn, conn.cursor() as cur:  # the cluster itself is healthy
        cur.execute("SELECT count(*) FROM jobs")
        assert cur.fetchone()[0] == len(all_rows)
