"""A worker killed while a provider batch is being created, and while its results are applied, loses nothing
and submits nothing twice (real worker processes, SIGKILL, the real sweeper, the real SDK against the stub)."""
from __future__ import annotations

import os
import signal
import time

from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import Job, Preview
from tests.batches.test_message_batches import (
    children,
    per_call_requests,
    previews_by_session,
    start,
    wait_batch,
)
from tests.helpers import insert_sessions, start_worker, sweep, worker_process


def _env(settings_env, stub):
    return dict(settings_env, ANTHROPIC_API_KEY=stub.api_key, ANTHROPIC_BASE_URL=stub.base_url,
                FLOWPILOT_LLM_TIMEOUT_S="20", FLOWPILOT_LLM_BATCH_THRESHOLD="20",
                FLOWPILOT_LLM_BATCH_POLL_MIN_S="0.1", FLOWPILOT_LLM_BATCH_POLL_MAX_S="0.4")


def _llm_settings(settings, stub):
    return settings.model_copy(update={
        "anthropic_api_key": stub.api_key, "anthropic_base_url": stub.base_url, "flowpilot_llm_timeout_s": 20.0,
        "flowpilot_llm_batch_threshold": 20, "flowpilot_llm_batch_poll_min_s": 0.1,
        "flowpilot_llm_batch_poll_max_s": 0.4})


def _kill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _until(pred, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _succeeded(engine, batch_id) -> int:
    with transaction(engine, SYSTEM) as db:
        return int(db.execute(select(func.count()).select_from(Job).where(
            Job.batch_id == batch_id, Job.status == "succeeded")).scalar_one())


def _assert_each_once(engine, batch_id, ids, stub):
    kids = children(engine, batch_id)
    assert len(kids) == len(ids) and all(k.status == "succeeded" for k in kids)
    stored = previews_by_session(engine, ids)
    assert len(stored) == len(ids) and all(len(v) == 1 for v in stored.values())
    assert {rows[0].job_id for rows in stored.values()} == {k.id for k in kids}
    assert stub.batches.requests_sent == len(ids) and per_call_requests(stub) == 0


def _rescue_and_finish(app, client, tenant, settings, stub, batch_id) -> dict:
    """The sweeper rescues the dead worker's job once; a fresh worker finishes the batch."""
    time.sleep(settings.flowpilot_stale_heartbeat_s + 0.5)
    assert sweep(app, stale_after_s=settings.flowpilot_stale_heartbeat_s, redispatch_after_s=60).rescued == 1
    with start_worker(_llm_settings(settings, stub)):
        return wait_batch(app, client, tenant, batch_id)


def test_killed_while_the_create_call_is_in_flight(app, client, tenant, engine, settings, settings_env,
                                                   anthropic_stub):
    """The provider made the batch but its answer never reached us: the next worker finds it and adopts it."""
    ids = insert_sessions(engine, tenant, 60)
    anthropic_stub.batches.create_delay_s = 30  # the batch exists at once; its id comes back too late
    batch_id = start(client, tenant)
    with worker_process(_env(settings_env, anthropic_stub), queues=("batch",)) as proc:
        _until(anthropic_stub.batches.create_started.is_set, what="the create call")
        _kill(proc)
    anthropic_stub.batches.create_delay_s = 0
    done = _rescue_and_finish(app, client, tenant, settings, anthropic_stub, batch_id)
    assert done["succeeded"] == 60
    assert anthropic_stub.batches.calls["create"] == 1 and anthropic_stub.batches.calls["list"] >= 1
    _assert_each_once(engine, batch_id, ids, anthropic_stub)


def test_killed_between_results_and_completion(app, client, tenant, engine, settings, settings_env, anthropic_stub):
    """Half the results applied, then SIGKILL: the next worker re-reads the results and completes the rest once."""
    ids = insert_sessions(engine, tenant, 120)
    anthropic_stub.batches.line_delay_s = 0.05
    batch_id = start(client, tenant)
    with worker_process(_env(settings_env, anthropic_stub), queues=("batch",)) as proc:
        _until(lambda: _succeeded(engine, batch_id) >= 30, what="the first results")
        _kill(proc)
    applied = _succeeded(engine, batch_id)
    assert 30 <= applied < 120
    anthropic_stub.batches.line_delay_s = 0
    done = _rescue_and_finish(app, client, tenant, settings, anthropic_stub, batch_id)
    assert done["succeeded"] == 120
    assert anthropic_stub.batches.calls["create"] == 1 and anthropic_stub.batches.calls["results"] >= 2
    _assert_each_once(engine, batch_id, ids, anthropic_stub)
    with transaction(engine, SYSTEM) as db:
        assert db.execute(select(func.count()).select_from(Preview)).scalar_one() == 120
