"""Exactly one note per session, whatever happens to the job that first tried to post it (issue 13, item 1).

Each path runs through the real API, real worker threads, the real ConnectWise client and the simulator, and
ends by counting the notes on the ticket: cancelled, failed with its attempts spent, failed with an unknown
outcome, retried by an operator, superseded by a new post request, and a worker whose claim was taken over
while its POST was still in flight.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from db.engine import SYSTEM, transaction
from db.models import Job
from tests.helpers import assert_problem, start_worker, sweep, wait_job
from tests.writeback.conftest import TICKET

MD = "## Summary\n\nPrinter back online after a spooler restart."


def post(client: Any, tenant: Any, session: dict[str, Any], *, markdown: str = MD, expect: int = 202) -> Any:
    r = client.post(f"/api/v1/ai-sessions/{session['id']}/resolution-note/post", json={"markdown": markdown},
                    headers=tenant.h("engineer"))
    assert r.status_code == expect, r.get_json()
    return r.get_json()["job"]["id"] if expect == 202 else r.get_json()


def configure(client: Any, tenant: Any, **prefs: Any) -> None:
    assert client.patch("/api/v1/account-settings", json={"preferences": prefs}, headers=tenant.h()).status_code == 200


def row(engine: Any, job_id: str) -> Job:
    with transaction(engine, SYSTEM) as db:
        job = db.get(Job, uuid.UUID(job_id))
        assert job is not None
        return job


def until(check: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


def one_note(cw_sim: Any, done: dict[str, Any]) -> None:
    notes = cw_sim.notes(TICKET)
    assert len(notes) == 1, notes
    assert done["result"]["external_id"] == str(notes[0]["id"])


def test_cancel_past_note_attempted_is_refused_by_every_cancel(client, engine, tenant, operator, linked, cw_sim,
                                                               psa_worker):
    """The reproduction of the issue: the note is posted, the status step meets a 503, the engineer cancels."""
    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("GET", "ticket", "status500", status=503, retry_after=6)  # not retried in-call: job-level wait
    job_id = post(client, tenant, linked["session"])
    waiting = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    assert waiting["error"]["code"] == "psa_unavailable" and "note_posted" in row(engine, job_id).steps
    for url, headers in ((f"/api/v1/jobs/{job_id}/cancel", tenant.h("engineer")),
                         (f"/api/v1/jobs/{job_id}/cancel", tenant.h("owner")),
                         (f"/api/v1/ops/jobs/{job_id}/cancel", operator)):
        assert_problem(client.post(url, headers=headers), 409, "job_not_cancellable")
    bulk = client.post("/api/v1/ops/jobs/cancel", json={"ids": [job_id]}, headers=operator).get_json()
    assert bulk["affected"] == 0 and bulk["skipped"] == [{"id": job_id, "code": "job_not_cancellable"}]
    assert post(client, tenant, linked["session"], expect=409)["code"] == "session_state_conflict"
    done = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert done["status"] == "succeeded" and done["result"]["verified_status_id"] == 42
    one_note(cw_sim, done)
    assert cw_sim.count("POST", "notes") == 1


def test_attempts_spent_on_an_unknown_outcome_then_a_new_post_adopts_the_note(client, engine, tenant, linked,
                                                                             cw_sim, psa_worker):
    cw_sim.inject("POST", "notes", "status500", times=7)  # a 5xx on a write: it may have been stored
    cw_sim.inject("POST", "notes", "store_then_drop")  # the 8th and last attempt landed; its answer was lost
    first = post(client, tenant, linked["session"])
    failed = wait_job(client, tenant.h("engineer"), first, timeout=60)
    assert failed["status"] == "failed" and failed["attempts"] == failed["max_attempts"] == 8
    assert failed["error"]["detail"]["outcome_unknown"] is True
    assert len(cw_sim.notes(TICKET)) == 1
    second = post(client, tenant, linked["session"])  # nothing recorded as posted: a new post is accepted
    done = wait_job(client, tenant.h("engineer"), second, timeout=30)
    assert done["status"] == "succeeded", done
    one_note(cw_sim, done)
    assert row(engine, second).steps["note_posted"]["adopted"] is True
    assert cw_sim.count("POST", "notes") == 8


def _unknown_then_permanent(client: Any, engine: Any, tenant: Any, session: dict[str, Any], cw_sim: Any) -> str:
    """A job whose note landed with an unknown outcome, then failed permanently before it could look."""
    cw_sim.inject("POST", "notes", "store_then_status", status=503, retry_after=4)
    job_id = post(client, tenant, session)
    waiting = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    assert waiting["error"]["detail"]["outcome_unknown"] is True and len(cw_sim.notes(TICKET)) == 1
    cw_sim.inject("GET", "notes", "redirect")  # the next attempt cannot list the ticket's notes (permanent)
    failed = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "psa_rejected"
    steps = row(engine, job_id).steps
    assert "note_attempted" in steps and "note_posted" not in steps
    return job_id


def test_failed_with_unknown_outcome_then_superseded_by_a_new_post(client, engine, tenant, linked, cw_sim,
                                                                  psa_worker):
    _unknown_then_permanent(client, engine, tenant, linked["session"], cw_sim)
    second = post(client, tenant, linked["session"], markdown=MD + "\n\n(edited before re-posting)")
    done = wait_job(client, tenant.h("engineer"), second, timeout=30)
    assert done["status"] == "succeeded", done
    one_note(cw_sim, done)  # the landed note is adopted; the edited text is not posted beside it
    assert cw_sim.notes(TICKET)[0]["text"] == MD and cw_sim.count("POST", "notes") == 1
    s = client.get(f"/api/v1/ai-sessions/{linked['session']['id']}", headers=tenant.h("engineer")).get_json()
    assert s["status"] == "resolved" and s["resolution_note_markdown"] == MD  # what the ticket really shows


def test_failed_with_unknown_outcome_then_retried_by_an_operator(client, engine, tenant, operator, linked, cw_sim,
                                                                psa_worker):
    job_id = _unknown_then_permanent(client, engine, tenant, linked["session"], cw_sim)
    r = client.post(f"/api/v1/ops/jobs/{job_id}/retry", headers=operator)
    assert r.status_code == 202, r.get_json()
    done = wait_job(client, tenant.h("engineer"), job_id, timeout=30)
    assert done["status"] == "succeeded"
    one_note(cw_sim, done)
    assert cw_sim.count("POST", "notes") == 1
    retries = row(engine, job_id).retries
    assert len(retries) == 1 and retries[0]["via"] == "ops" and retries[0]["at"]
    assert post(client, tenant, linked["session"], expect=409)["code"] == "session_state_conflict"


def test_posted_note_then_failed_job_superseded_once_its_retries_are_spent(client, engine, tenant, linked, cw_sim,
                                                                          psa_worker):
    configure(client, tenant, cw_resolved_status_id=42)
    cw_sim.inject("PATCH", "ticket", "patch_ignored", times=100)  # the status never moves: a permanent failure
    job_id = post(client, tenant, linked["session"])
    h = tenant.h("engineer")
    assert wait_job(client, h, job_id)["error"]["code"] == "status_verification_failed"
    assert post(client, tenant, linked["session"], expect=409)["job_id"] == job_id  # retry it instead
    for _ in range(3):
        assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=h).status_code == 202
        assert wait_job(client, h, job_id)["status"] == "failed"
    assert_problem(client.post(f"/api/v1/jobs/{job_id}/retry", headers=h), 409, "retry_limit_reached")
    cw_sim.clear_faults()
    second = post(client, tenant, linked["session"], markdown="A different text")  # no dead end: accepted...
    done = wait_job(client, h, second, timeout=30)
    assert done["status"] == "succeeded" and done["result"]["verified_status_id"] == 42
    one_note(cw_sim, done)  # ...and it carries the posted note over instead of posting a second one
    assert cw_sim.count("POST", "notes") == 1 and row(engine, second).steps["note_posted"]["external_id"]


def test_worker_whose_claim_was_taken_over_mid_post_cannot_race_the_new_owner(app, client, engine, tenant, settings,
                                                                             linked, cw_sim):
    """The first worker's POST is still on the wire when the sweeper hands its job to another worker."""
    cw_sim.inject("POST", "notes", "stall", seconds=3)  # the note lands 3 s after the request is sent
    with start_worker(settings.model_copy(update={"flowpilot_psa_timeout_s": 10.0})):
        job_id = post(client, tenant, linked["session"])
        until(lambda: "note_attempted" in row(engine, job_id).steps, what="first POST under way")
        time.sleep(0.5)  # the request is on the wire, the simulator holds it
        assert sweep(app, stale_after_s=0, redispatch_after_s=60).rescued == 1  # the claim is taken over
        done = wait_job(client, tenant.h("engineer"), job_id, timeout=40)
    assert done["status"] == "succeeded", done
    time.sleep(0.5)
    one_note(cw_sim, done)
    assert cw_sim.count("POST", "notes") == 1
