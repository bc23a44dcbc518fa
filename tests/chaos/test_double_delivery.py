"""The same writeback message delivered twice at once, to running workers: one external effect."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from db.engine import make_engine, tenant, transaction
from shared.jobs.dispatch import Dispatcher
from shared.jobs.service import JobRef
from shared.sessions.service import get_session
from shared.writeback import request_writeback
from tests.chaos.common import (
    ChaosCwSimulator,
    check_writebacks,
    note_markdown,
    parallel,
    partial_rows,
    setup_writebacks,
)
from tests.chaos.conftest import admin_db_url
from tests.chaos.infra import make_tenant, running_stack, wait_terminal, wait_until
from tests.helpers import REDIS_URL

pytestmark = pytest.mark.chaos

JOBS = 60
FIRST_TICKET = 80_001
MODES = ("two senders at once", "send([ref, ref])", "send twice in a row")


def create_undispatched(app_url: str, account_id: uuid.UUID, user_id: uuid.UUID, sessions: dict[int, str]) -> dict[int, JobRef]:
    """Writeback rows committed exactly as the endpoint commits them, but with no message sent yet."""
    engine = make_engine(app_url, pool_size=2, max_overflow=0)
    refs: dict[int, JobRef] = {}
    try:
        for ticket, session_id in sessions.items():
            with transaction(engine, tenant(account_id)) as db:
                session = get_session(db, uuid.UUID(session_id), for_update=True)
                job = request_writeback(db, session, "resolution_note", markdown=note_markdown(ticket), summary=None,
                                        user_id=user_id, idempotency_key=None, fingerprint=None)
                refs[ticket] = JobRef.of(job)
    finally:
        engine.dispose()
    return refs


def deliver_twice(dispatcher: Dispatcher, ref: JobRef, mode: str) -> int:
    """Enqueue `ref` twice; the two sends race each other from two threads where the mode allows."""
    if mode == "send([ref, ref])":
        assert dispatcher.send([ref, ref]) == []
        return 2
    if mode == "send twice in a row":
        assert dispatcher.send([ref]) == [] and dispatcher.send([ref]) == []
        return 2
    barrier = threading.Barrier(2)

    def one(i: int) -> list[JobRef]:
        barrier.wait(30)
        return dispatcher.send([ref])

    # parallel() re-raises a sender's exception here: a send that blew up cannot pass for a delivery.
    failed = [r for refs in parallel(one, range(2), workers=2) for r in refs]
    assert not failed
    return 2


def test_same_message_twice_at_once_posts_one_note(database, shared_config, log_dir, chaos_report):
    started = time.monotonic()
    tickets = [FIRST_TICKET + i for i in range(JOBS)]
    with ChaosCwSimulator() as sim, running_stack(shared_config, log_dir, worker_commands=2) as stack:
        sim.delay_s = 0.02  # both deliveries are in their handlers at the same time, if both claimed
        tenant_ = make_tenant(database["system"])
        setup = setup_writebacks(stack.base_url, tenant_, sim, tickets)
        refs = create_undispatched(database["app"], tenant_.account_id, tenant_.user_ids["engineer"], setup.sessions)
        dispatcher = Dispatcher.from_url(REDIS_URL, shared_config.namespace)
        try:
            sent = parallel(lambda i: deliver_twice(dispatcher, refs[tickets[i]], MODES[i % len(MODES)]), range(JOBS))
        finally:
            dispatcher.close()
        jobs = {t: str(r.id) for t, r in refs.items()}
        rows = wait_terminal(admin_db_url(database["name"]), list(jobs.values()), timeout=90)
        # Every message was consumed and acked; none was dead-lettered.
        client = redis.Redis.from_url(REDIS_URL)
        ns = shared_config.namespace
        try:
            wait_until(lambda: client.hlen(f"{ns}:interactive.msgs") == 0, timeout=30, what="all messages acked")
            dead = client.hlen(f"{ns}:interactive.XQ.msgs")
        finally:
            client.close()
        diagnostics = stack.diagnostics()
        posts = sim.count("POST", "notes")

    check = check_writebacks(rows, jobs, sim, expect_failed=set())
    claimed_twice = [j for j, r in rows.items() if r["attempts"] != 1]
    chaos_report(scenario="same message delivered twice", jobs=JOBS,
                 faults=f"{sum(sent) - JOBS} duplicate deliveries", duplicates=check.duplicates + len(claimed_twice),
                 lost=check.lost, stuck=check.stuck, seconds=time.monotonic() - started,
                 note=f"{sum(sent)} messages for {JOBS} jobs; {posts} note POSTs; {dead} dead letters")
    assert not check.problems, (check.problems[:20], diagnostics)
    assert not claimed_twice, [rows[j] for j in claimed_twice[:5]]
    assert posts == JOBS and dead == 0
    assert not partial_rows(rows)
