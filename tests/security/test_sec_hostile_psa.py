"""Hostile or broken PSA servers (issue 13, item 5).

A tenant chooses its ConnectWise `site_url`, so it controls every byte we read back. The real client
(shared/psa/connectwise.py) talks to tests/fakes/hostile_psa.py, a server that answers with huge bodies,
bodies that never end, gzip bombs, bodies and headers dripped a byte at a time, or nothing at all:

- a body over `max_response_bytes` (declared or counted, after decompression) is refused with the
  permanent `psa_response_too_large`, without reading the rest;
- every provider call ends within `deadline_s` of wall-clock time, whatever the server drips (the per-read
  timeout alone would wait forever for a server sending one byte a second), with the transient
  `psa_deadline_exceeded`; a write cut off that way says `outcome_unknown`;
- in a worker, one tenant's PSA jobs hold at most FLOWPILOT_PSA_TENANT_THREAD_SHARE of the process's
  threads (the others wait as re-sent messages, not on threads, and spend no attempt), so another tenant's
  writeback still runs while the hostile one drips.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from db.engine import tenant as tenant_scope
from db.engine import transaction
from db.models import Job
from shared.errors import PermanentError, TransientError
from shared.psa.base import ClientOptions, PsaCredentials
from shared.psa.connectwise import ConnectWiseClient
from tests.fakes.hostile_psa import HostilePsa
from tests.helpers import wait_job

pytestmark = pytest.mark.usefixtures("fresh_codebases")  # each test discovers the codebase anew

LOCAL = frozenset({"127.0.0.1:*"})
CAP = 1024 * 1024
DEADLINE = 2.0
SLACK = 1.5  # the deadline is enforced by a watchdog thread: allow for scheduling on a busy machine


@pytest.fixture
def hostile() -> Iterator[HostilePsa]:
    with HostilePsa(interval=0.25, max_hold_s=12.0) as srv:
        yield srv


def client_for(srv: HostilePsa, **opts: Any) -> ConnectWiseClient:
    session = requests.Session()
    session.trust_env = False
    options = {"session": session, "allowed_hosts": LOCAL, "timeout_s": 5.0, "deadline_s": DEADLINE,
               "max_response_bytes": CAP, "get_attempts": 1, **opts}
    return ConnectWiseClient(PsaCredentials(srv.site_url, "acme", "pub-key", "priv-key", "cid"), ClientOptions(**options))


def timed(fn: Any) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises((TransientError, PermanentError)) as err:
        fn()
    return err.value, time.monotonic() - started


@pytest.mark.parametrize("mode", ["huge", "endless", "declared_huge", "gzip_bomb"])
def test_oversized_bodies_are_refused_without_reading_them(hostile, mode):
    hostile.route("tickets", mode)
    err, elapsed = timed(lambda: client_for(hostile).get_ticket("48291"))
    assert isinstance(err, PermanentError) and err.code == "psa_response_too_large", err
    assert err.detail and err.detail["limit_bytes"] == CAP and err.detail["outcome_unknown"] is False
    assert elapsed < DEADLINE + SLACK
    assert hostile.stats.bytes_sent < 32 * CAP  # socket buffers, not the 64 MB (or endless) body


def test_an_oversized_answer_to_a_write_says_the_outcome_is_unknown(hostile):
    hostile.route("notes", "endless", method="POST")
    err, _ = timed(lambda: client_for(hostile).post_note("48291", "Printer fixed.", internal=False, resolution=True))
    assert err.code == "psa_response_too_large" and err.detail["outcome_unknown"] is True, err


@pytest.mark.parametrize(("fragment", "mode"), [
    ("tickets", "drip_body"), ("tickets", "drip_headers"), ("tickets", "hang"),
    ("companyinfo", "drip_headers"),  # discovery is part of the call, and of its deadline
])
def test_every_call_ends_at_its_deadline_whatever_the_server_drips(hostile, fragment, mode):
    hostile.route(fragment, mode)
    err, elapsed = timed(lambda: client_for(hostile).get_ticket("48291"))
    assert isinstance(err, TransientError) and err.code == "psa_deadline_exceeded", err
    assert err.detail["deadline_s"] == DEADLINE and err.detail["outcome_unknown"] is False
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + SLACK, elapsed


def test_a_write_cut_off_by_the_deadline_may_have_happened(hostile):
    hostile.route("notes", "drip_body", method="POST")
    err, elapsed = timed(lambda: client_for(hostile).post_note("48291", "x", internal=True, resolution=False))
    assert err.code == "psa_deadline_exceeded" and err.detail["outcome_unknown"] is True, err
    assert elapsed < DEADLINE + SLACK


def test_in_call_retries_and_their_waits_stay_inside_the_deadline(hostile):
    hostile.route("tickets", "hang")
    err, elapsed = timed(lambda: client_for(hostile, timeout_s=0.8, get_attempts=5).get_ticket("48291"))
    assert err.code in ("psa_deadline_exceeded", "psa_unavailable"), err
    assert elapsed < DEADLINE + SLACK  # 5 attempts × 0.8 s read timeout + waits would be far longer


def test_a_well_behaved_server_is_unaffected(hostile):
    client = client_for(hostile)
    assert client.get_ticket("48291").status_id == 1
    assert client.post_note("48291", "ok", internal=True, resolution=False).id == "7"
    assert client.list_notes("48291") == []


# -- worker threads ----------------------------------------------------------------------------------------


@pytest.fixture
def share_worker(settings: Any) -> Iterator[Any]:
    from tests.helpers import start_worker

    update = {"flowpilot_psa_timeout_s": 1.0, "flowpilot_psa_deadline_s": 5.0, "flowpilot_psa_tenant_thread_share": 0.5}
    with start_worker(settings.model_copy(update=update), threads=4) as w:
        yield w


def _linked_session(client: Any, tenant: Any, site_url: str, company: str = "demo") -> str:
    conn = client.post("/api/v1/psa-connections", headers=tenant.h(), json={
        "provider": "connectwise", "site_url": site_url, "company_id": company, "public_key": "pub",
        "private_key": "priv", "client_id": "test-client"})
    assert conn.status_code == 201, conn.get_json()
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printer offline"},
                                                 "psa_connection_id": conn.get_json()["id"], "psa_ticket_id": "48291"},
                    headers=tenant.h("engineer"))
    assert s.status_code == 201, s.get_json()
    return str(s.get_json()["id"])


def _post(client: Any, tenant: Any, session_id: str) -> str:
    r = client.post(f"/api/v1/ai-sessions/{session_id}/resolution-note/post", json={"markdown": "Printer fixed."},
                    headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["job"]["id"])


def test_a_dripping_psa_holds_at_most_its_tenants_share_of_worker_threads(client, engine, make_tenant, cw_sim,
                                                                          share_worker):
    with HostilePsa(interval=0.5, max_hold_s=15.0) as srv:
        srv.route("", "drip_headers")  # every request, discovery included, drips
        hostile, bystander = make_tenant("Hostile MSP"), make_tenant("Bystander MSP")
        for _ in range(4):
            _post(client, hostile, _linked_session(client, hostile, srv.site_url))
        deadline = time.monotonic() + 5
        while srv.stats.open_now < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.7)  # every free thread has had time to pick up a hostile job
        assert srv.stats.open_now >= 1
        assert srv.stats.peak_open <= 2, srv.stats  # 4 threads × 0.5

        started = time.monotonic()
        job = _post(client, bystander, _linked_session(client, bystander, cw_sim.site_url))
        done = wait_job(client, bystander.h("engineer"), job, timeout=30)
        assert done["status"] == "succeeded", done
        assert time.monotonic() - started < 4.0  # it did not wait for the hostile calls' 5 s deadline
        assert srv.stats.peak_open <= 2, srv.stats
    with transaction(engine, tenant_scope(hostile.account_id)) as db:  # deferred jobs spent no attempt on it
        assert db.execute(select(func.max(Job.attempts))).scalar_one() <= 2
