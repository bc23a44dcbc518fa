"""Redis killed (SHUTDOWN NOSAVE) and restarted empty with 500 jobs queued: the sweeper re-sends all."""
from __future__ import annotations

import time
from functools import partial

import pytest
import requests

from tests.chaos.common import parallel, partial_rows, stuck_ids, submit_echo
from tests.chaos.conftest import admin_db_url
from tests.chaos.infra import StackConfig, make_tenant, running_stack, wait_terminal, wait_until

pytestmark = pytest.mark.chaos

JOBS = 500


def test_redis_restarted_empty_loses_no_job_and_runs_none_twice(database, secret_key, chaos_namespace, private_redis,
                                                                 log_dir, chaos_report):
    started = time.monotonic()
    config = StackConfig(database_url=database["app"], owner_url=database["owner"], system_url=database["system"],
                         redis_url=private_redis.url,
                         namespace=chaos_namespace, secret_key=secret_key)
    admin_url = admin_db_url(database["name"])
    tenant = make_tenant(database["system"])
    with running_stack(config, log_dir, start=False) as stack:
        stack.start_web()
        # 1. 500 jobs committed and rung into Redis while no worker listens.
        job_ids = parallel(partial(submit_echo, stack.base_url, tenant), range(JOBS))
        assert len(set(job_ids)) == JOBS
        assert private_redis.client().dbsize() > 0  # the doorbells are in Redis...
        # 2. ...and are gone: no save, no AOF, an empty server on the same port.
        private_redis.shutdown_nosave()
        private_redis.start()
        assert private_redis.client().dbsize() == 0
        # 3. Workers and the clock come up; only the sweeper can know about the 500 jobs.
        stack.start_workers()
        stack.start_clock()
        rows = wait_terminal(admin_url, job_ids, timeout=120)
        # The web reconnected to the new Redis by itself.
        wait_until(lambda: requests.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200, timeout=15,
                   what="web healthy after the Redis restart")
        diagnostics = stack.diagnostics()

    lost = [j for j in job_ids if j not in rows]
    stuck = stuck_ids(rows, job_ids)
    twice = [j for j, r in rows.items() if r["attempts"] != 1 or (r["result"] or {}).get("attempt") != 1]
    wrong = [j for j, r in rows.items() if r["status"] != "succeeded"
             or (r["result"] or {}).get("echo") != r["payload"]["payload"]]
    chaos_report(scenario="redis restarted empty", jobs=JOBS, faults="1 SHUTDOWN NOSAVE (500 msgs lost)",
                 duplicates=len(twice), lost=len(lost) + len([j for j in wrong if j not in stuck]), stuck=len(stuck),
                 seconds=time.monotonic() - started)
    assert not lost and not stuck, diagnostics
    assert not twice, [rows[j] for j in twice[:5]]
    assert not wrong, [rows[j] for j in wrong[:5]]
    assert not partial_rows(rows)
