"""One-round-trip transactions (db/oneshot.py): the scope holds for exactly that statement, and RLS applies."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.engine import SYSTEM
from db.engine import tenant as scope_of
from db.oneshot import OneShot, run
from shared.jobs.oneshots import read_job
from shared.jobs.state_machine import claim as claim_job
from shared.jobs.state_machine import insert_job
from shared.jobs.state_machine import succeed_now as complete_job


def test_a_tenant_reads_and_writes_only_its_own_jobs(engine, tenant: Any, other_tenant: Any) -> None:
    mine, theirs = scope_of(tenant.account_id), scope_of(other_tenant.account_id)
    row = insert_job(engine, mine, account_id=tenant.account_id, kind="system.echo",
                     payload={"x": 1}, created_by=None)
    assert isinstance(row.id, uuid.UUID) and row.status == "queued" and not hasattr(row, "payload")
    assert read_job(engine, mine, row.id).status == "queued"
    assert read_job(engine, theirs, row.id) is None  # invisible across tenants
    assert claim_job(engine, theirs, row.id, uuid.uuid4()) is None  # and not claimable
    assert read_job(engine, SYSTEM, row.id) is not None
    claimed = claim_job(engine, mine, row.id, uuid.uuid4())
    assert claimed is not None and claimed.payload == {"x": 1}  # the worker gets the whole row
    with pytest.raises(Exception, match="row-level security"):  # cannot insert into another tenant
        insert_job(engine, theirs, account_id=tenant.account_id, kind="system.echo", payload={},
                   created_by=None)


def test_claim_is_fenced_and_completion_needs_the_token(engine, tenant: Any) -> None:
    scope = scope_of(tenant.account_id)
    row = insert_job(engine, scope, account_id=tenant.account_id, kind="system.echo", payload={},
                     created_by=None)
    token = uuid.uuid4()
    claimed = claim_job(engine, scope, row.id, token)
    assert claimed is not None and claimed.status == "running" and claimed.attempts == 1
    assert claim_job(engine, scope, row.id, uuid.uuid4()) is None  # a duplicate delivery claims nothing
    assert complete_job(engine, scope, row.id, uuid.uuid4(), {"no": 1}) is False  # not our claim
    assert complete_job(engine, scope, row.id, token, {"ok": True}) is True
    done = read_job(engine, scope, row.id)
    assert done is not None and done.status == "succeeded" and done.result == {"ok": True}
    assert done.error is None and done.finished_at is not None
    assert claim_job(engine, scope, row.id, uuid.uuid4()) is None  # finished: nothing to claim


def test_nothing_is_left_on_the_pooled_connection(engine, tenant: Any) -> None:
    """set_config(..., true) lives and dies with the one implicit transaction, success or failure."""
    probe = OneShot.of("SELECT 1")
    run(engine, scope_of(tenant.account_id), probe, {})
    dup = OneShot.of("INSERT INTO accounts (id, name) VALUES (:id, 'x'), (:id, 'x')")
    with pytest.raises(IntegrityError):
        run(engine, SYSTEM, dup, {"id": uuid.uuid4()})
    for _ in range(3):  # whichever pooled connection comes next
        with engine.connect() as conn:
            leftover = conn.execute(text("SELECT current_setting('app.account_id', true), "
                                         "current_setting('app.system_scope', true)")).one()
            assert all(v in (None, "") for v in leftover), leftover
            conn.rollback()
