"""Capacity waits hold no worker thread and use no attempt (issue 13, item 6).

The tenant's only LLM slot is held (as by another worker's long call); the job that needs it goes back to
`retrying` at once, with its attempt given back, and the worker's single thread serves other jobs meanwhile.
Once the slot is free the job runs with its first attempt.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from shared.capacity import Capacity
from tests.helpers import start_worker, submit_job, wait_job

SCRIPT = "Restart-Service -Name Spooler -ComputerName SRV-PRN01"


@pytest.fixture
def one_slot_worker(llm_settings: Any) -> Iterator[Any]:
    """One worker thread; one LLM slot per tenant and in all."""
    narrow = llm_settings.model_copy(update={"flowpilot_llm_max_concurrency": 1, "flowpilot_llm_tenant_concurrency": 1})
    with start_worker(narrow, threads=1) as w:
        yield w


@contextmanager
def slot_taken(settings: Any, tenant: Any) -> Iterator[None]:
    """The tenant's LLM slot held by someone else (a lease long enough for the test)."""
    client = redis.Redis.from_url(settings.redis_url)
    cap = Capacity(client, settings.flowpilot_redis_namespace, "llm", global_limit=1, tenant_limit=1, ttl_ms=120_000)
    try:
        with cap.slot(str(tenant.account_id)):
            yield
    finally:
        client.close()


def _session(client: Any, tenant: Any) -> str:
    r = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printing fails"}},
                    headers=tenant.h("engineer"))
    return str(r.get_json()["id"])


def _preview(client: Any, tenant: Any, session_id: str) -> str:
    r = client.post(f"/api/v1/ai-sessions/{session_id}/resolution-note/preview", headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["job"]["id"])


def _template_extract(client: Any, tenant: Any, session_id: str) -> str:
    base = f"/api/v1/ai-sessions/{session_id}/suggested-fixes"
    fix = client.post(base, json={"title": "Restart the spooler", "description": "Spooler hung", "confidence_pct": 80,
                                  "ai_drafted_script": SCRIPT}, headers=tenant.h("engineer")).get_json()
    r = client.post(f"{base}/{fix['id']}/decision", json={"decision": "draft_template"}, headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["job"]["id"])


@pytest.mark.parametrize("submit", [_preview, _template_extract], ids=["preview", "template.extract"])
def test_waiting_for_an_llm_slot_holds_no_thread_and_no_attempt(client, tenant, llm_settings, one_slot_worker,
                                                                 anthropic_stub, submit):
    h = tenant.h("engineer")
    session_id = _session(client, tenant)
    with slot_taken(llm_settings, tenant):
        job_id = submit(client, tenant, session_id)
        waiting = wait_job(client, h, job_id, until=("retrying",), timeout=10)
        assert waiting["error"]["code"] == "llm_capacity_exhausted" and waiting["attempts"] == 0
        assert waiting["next_attempt_at"]
        started = time.monotonic()
        echo = submit_job(client, tenant, payload={"while": "waiting"})
        assert wait_job(client, tenant.h(), echo["id"], timeout=10)["status"] == "succeeded"
        assert time.monotonic() - started < 8  # the one thread was free: it did not sit in the wait
        time.sleep(1.0)  # several more waits meanwhile
        assert not anthropic_stub.requests  # nobody called the model without a slot
    done = wait_job(client, h, job_id, timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
    assert len(anthropic_stub.requests) == 1
