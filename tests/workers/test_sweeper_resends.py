"""The sweeper re-sends only messages that are really lost (issue 13, item 3).

A job that merely waits behind a busy pool keeps its one message; a job whose message never left, or left
before Redis lost its data, gets exactly one new message.
"""
from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import func, text, update

from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from db.models import Job
from shared.jobs.state_machine import NewJob, insert_jobs
from tests.helpers import REDIS_URL, clear_redis_namespace, submit_job, sweep

N = 40


def queued_messages(namespace: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.llen(f"{namespace}:interactive"))
    finally:
        client.close()


def age_dispatches(engine: Any, minutes: int = 60) -> None:
    """As if every job had waited an hour behind a busy pool (only the sweeper reads dispatched_at)."""
    with transaction(engine, SYSTEM) as db:
        db.execute(update(Job).values(dispatched_at=func.now() - text(f"interval '{minutes} minutes'"),
                                      created_at=func.now() - text(f"interval '{minutes} minutes'")))


def test_jobs_waiting_behind_a_busy_pool_are_not_sent_again(app, client, engine, tenant, namespace):
    for i in range(N):
        submit_job(client, tenant, payload={"i": i})  # no worker: every message waits in the queue
    assert queued_messages(namespace) == N
    age_dispatches(engine)
    for _ in range(3):
        report = sweep(app, stale_after_s=30, redispatch_after_s=1)
        assert report.redispatched == 0, report
    assert queued_messages(namespace) == N  # still one message per job: no duplicate deliveries


def test_messages_lost_with_redis_data_are_sent_once_at_once(app, client, engine, tenant, namespace):
    for i in range(N):
        submit_job(client, tenant, payload={"i": i})
    clear_redis_namespace(REDIS_URL, namespace)  # Redis restarted empty: every message is gone
    report = sweep(app, stale_after_s=30, redispatch_after_s=600)  # no waiting out the grace period
    assert report.redispatched == N and queued_messages(namespace) == N
    again = sweep(app, stale_after_s=30, redispatch_after_s=0)
    assert again.redispatched == 0 and queued_messages(namespace) == N


def test_a_job_whose_message_never_left_is_sent_after_the_grace_period(app, engine, tenant, namespace):
    """The web process died between its commit and its enqueue: the row exists, no message does."""
    sweep(app, stale_after_s=30, redispatch_after_s=60)  # Redis is known (its epoch is recorded)
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        insert_jobs(db, [NewJob(kind="system.echo", account_id=tenant.account_id) for _ in range(3)])
    sweep(app, stale_after_s=30, redispatch_after_s=60)
    assert queued_messages(namespace) == 0  # within the grace period its own sender may still be at it
    age_dispatches(engine, minutes=5)
    sweep(app, stale_after_s=30, redispatch_after_s=60)
    assert queued_messages(namespace) == 3  # one message each
    for _ in range(2):
        sweep(app, stale_after_s=30, redispatch_after_s=0)
    assert queued_messages(namespace) == 3  # and only one
