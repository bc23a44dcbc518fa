"""Smaller job hardening (issue 13, item 9): honest answers when a commit fails, unique operator
Idempotency-Keys, a dispatcher that cannot hang on a black-holed Redis, robust Retry-After."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import psycopg2
import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.jobs.dispatch import Dispatcher
from shared.jobs.service import JobRef
from shared.retry_policy import MAX_RETRY_AFTER_S, next_delay, parse_retry_after
from tests.helpers import ADMIN_URL, concurrently, count_rows

# ------------------------------------------------------------------------------ POST /jobs and its commit


def test_post_jobs_never_says_nothing_was_written_about_a_committed_job(client, engine, tenant):
    """The request's own connection (it looked the token up) dies before that transaction commits."""

    def kill_after_token_lookup(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "set_config('app.system_scope', ''" in statement:  # the request just narrowed to the tenant
            _terminate(conn.connection.dbapi_connection.get_backend_pid())

    event.listen(engine, "after_cursor_execute", kill_after_token_lookup)
    try:
        r = client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"n": 1}}, headers=tenant.h())
    finally:
        event.remove(engine, "after_cursor_execute", kill_after_token_lookup)
    written = count_rows(engine, Job, Job.account_id == tenant.account_id)
    if r.status_code == 202:
        assert written == 1
    else:
        assert r.status_code >= 500 and written == 0, (r.status_code, r.get_json(), written)


def test_a_commit_whose_outcome_is_unknown_is_not_reported_as_nothing_written(client, engine, tenant):
    """The connection breaks during COMMIT of a keyed POST /jobs: we cannot know; repeating with the key is safe."""
    headers = tenant.h(**{"Idempotency-Key": f"k-{uuid.uuid4().hex[:8]}"})

    def kill_at_commit(conn: Any) -> None:
        _terminate(conn.connection.dbapi_connection.get_backend_pid())

    event.listen(engine, "commit", kill_at_commit)
    try:
        r = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=headers)
    finally:
        event.remove(engine, "commit", kill_at_commit)
    assert r.status_code == 500 and "nothing was written" not in r.get_json()["detail"], r.get_json()
    assert "Idempotency-Key" in r.get_json()["detail"]
    again = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers=headers)
    assert again.status_code == 202
    assert count_rows(engine, Job, Job.account_id == tenant.account_id) == 1


def _terminate(pid: int) -> None:
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


# ------------------------------------------------------------------------ operator Idempotency-Keys


def test_operator_idempotency_keys_are_unique_under_concurrency(app, engine, operator):
    headers = dict(operator, **{"Idempotency-Key": f"op-{uuid.uuid4().hex[:8]}"})

    def go(_: int) -> tuple[int, str]:
        r = app.test_client().post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"op": True}},
                                   headers=headers)
        return r.status_code, r.get_json()["job"]["id"]

    results = concurrently(6, go)
    assert {code for code, _ in results} == {202} and len({job_id for _, job_id in results}) == 1
    assert count_rows(engine, Job, Job.idempotency_key == headers["Idempotency-Key"]) == 1


def test_the_database_refuses_a_second_operator_job_with_the_same_key(engine):
    """Operators' jobs have no account: NULLS NOT DISTINCT keeps their keys unique all the same."""
    rows = [{"id": uuid.uuid4(), "account_id": None, "kind": "system.echo", "queue": "interactive",
             "status": "succeeded", "idempotency_key": "same-key", "created_by": None} for _ in range(2)]
    with pytest.raises(IntegrityError), transaction(engine, SYSTEM) as db:
        db.execute(Job.__table__.insert(), rows)


# ------------------------------------------------------------------------------ black-holed Redis


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A Redis URL whose TCP connect never completes: the listen backlog is full and nobody accepts."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue; later SYNs are dropped, so connects hang
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(server.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    for s in fillers:
        s.close()
    server.close()


def _within(seconds: float, fn: Any) -> Any:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds}s"
    return out.get("value"), time.monotonic() - started


def test_dispatcher_gives_up_on_a_black_holed_redis(black_hole):
    """Its own connect and socket timeouts (1 s, 2 s), whatever the Redis client library defaults to."""
    dispatcher = Dispatcher.from_url(black_hole, "fp-blackhole")
    ref = JobRef(uuid.uuid4(), None, "system.echo", "interactive")
    failed, _ = _within(4, lambda: dispatcher.send([ref]))
    assert failed == [ref]


def test_post_jobs_answers_while_redis_is_black_holed_and_the_sweeper_sends_later(settings, engine, tenant,
                                                                                 black_hole):
    from web import create_app

    hole = create_app(settings.model_copy(update={"redis_url": black_hole}))
    try:
        r, _ = _within(4, lambda: hole.test_client().post("/api/v1/jobs", json={"kind": "system.echo"},
                                                        headers=tenant.h()))
    finally:
        hole.extensions["flowpilot"].dispose()
    assert r.status_code == 202, r.get_json()
    with transaction(engine, SYSTEM) as db:
        job = db.get(Job, uuid.UUID(r.get_json()["job"]["id"]))
        assert job is not None and job.status == "queued"
        assert job.dispatched_at is None  # durable and marked for the sweeper's next pass


# ------------------------------------------------------------------------------------- Retry-After

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("2.5", 2.5),
    ("-5", 0.0), ("inf", MAX_RETRY_AFTER_S), ("Infinity", MAX_RETRY_AFTER_S), ("-inf", 0.0), ("1e309", MAX_RETRY_AFTER_S),
    ("99999999999999999999", MAX_RETRY_AFTER_S), ("nan", None), ("", None), ("soon", None), (None, None),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
    (format_datetime(NOW - timedelta(days=1), usegmt=True), 0.0),
    (format_datetime(NOW + timedelta(days=400), usegmt=True), MAX_RETRY_AFTER_S),
    ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S), ("Mon, 99 Foo 2026 99:99:99 GMT", None),
])
def test_retry_after_is_parsed_robustly_and_capped(raw, seconds):
    assert parse_retry_after(raw, now=NOW) == seconds


def test_next_delay_never_exceeds_the_cap_whatever_it_is_given():
    assert next_delay(1, retry_after=float("inf"), base=2, cap=300) == MAX_RETRY_AFTER_S
    assert next_delay(1, retry_after=float("nan"), base=2, cap=300) <= 2
    assert next_delay(50, retry_after=None, base=2, cap=1e308) <= MAX_RETRY_AFTER_S
