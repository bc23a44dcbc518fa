"""The batches page in Chromium over the real stack: dry run, start, live progress, failures in words and
retry, cancel (regenerations through the stub's Message Batches), and re-verification mismatches."""
from __future__ import annotations

import threading

import pytest

from tests.helpers import insert_sessions, start_worker, sweep, wait_job
from tests.pages.conftest import DESKTOP, JOB_WAIT_MS, PHONE, give_passwords, shot, sign_in, sync_api


@pytest.fixture
def sweeper(app):
    """The clock process's sweeper (it settles finished batches), every 0.3 s while the test runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.3):
            sweep(app, stale_after_s=60, redispatch_after_s=60)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def _mb(llm_settings):
    return llm_settings.model_copy(update={"flowpilot_llm_batch_threshold": 20, "flowpilot_llm_batch_poll_min_s": 0.2,
                                           "flowpilot_llm_batch_poll_max_s": 0.5})


def test_admin_counts_starts_watches_retries_and_cancels(live_url, browser, engine, tenant, llm_settings,
                                                        anthropic_stub, sweeper):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("admin",))
    insert_sessions(engine, tenant, 40, intake={"problem": "Outlook keeps asking for the password"})
    insert_sessions(engine, tenant, 5, status="resolved")
    anthropic_stub.batches.latency_s = 2.0
    anthropic_stub.batches.outcome = lambda i, custom_id, params: "errored" if i % 10 == 0 else "succeeded"
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/admin")
    sign_in(page, people.emails["admin"])
    page.get_by_test_id("admin-batches-link").click()
    expect(page.get_by_role("heading", name="Batches", exact=True)).to_be_visible()

    expect(page.get_by_test_id("batch-start")).to_be_disabled()  # count first
    page.get_by_test_id("batch-action").select_option("regenerate_resolution_note")
    page.get_by_test_id("batch-filter-status").select_option("active")
    page.get_by_test_id("batch-dry-run").click()
    expect(page.get_by_test_id("batch-dry-run-total")).to_have_attribute("data-total", "40")
    expect(page.get_by_test_id("batch-sample")).to_have_count(20)
    shot(page, "batches-dry-run")
    page.get_by_test_id("batch-filter-updated-since").fill("2999-01-01T00:00")
    expect(page.get_by_test_id("batch-dry-run-total")).to_have_count(0)  # a changed filter needs a new count
    page.get_by_test_id("batch-filter-updated-since").fill("")
    page.get_by_test_id("batch-dry-run").click()
    expect(page.get_by_test_id("batch-dry-run-total")).to_have_attribute("data-total", "40")

    with start_worker(_mb(llm_settings)):
        page.get_by_test_id("batch-start").click()
        row = page.get_by_test_id("batch-row").first
        expect(row.get_by_test_id("batch-progress")).to_have_attribute("data-total", "40", timeout=JOB_WAIT_MS)
        expect(row.get_by_test_id("batch-cost")).to_have_attribute("data-mode", "message_batches")
        shot(page, "batches-running")
        expect(row.get_by_test_id("batch-progress")).to_have_attribute("data-done", "40", timeout=JOB_WAIT_MS)
        expect(row.get_by_test_id("batch-failure")).to_have_count(4)
        expect(row.get_by_test_id("batch-failure").first).to_contain_text("Anthropic refused this request")
        expect(row.get_by_test_id("batch-cost")).to_contain_text("Message Batches")
        shot(page, "batches-failures")
        row.get_by_test_id("batch-retry-failed").click()
        expect(row.get_by_test_id("batch-progress")).to_have_attribute("data-succeeded", "40", timeout=JOB_WAIT_MS)
        expect(row.get_by_test_id("batch-failure")).to_have_count(0)
        expect(row).to_have_attribute("data-status", "succeeded", timeout=JOB_WAIT_MS)

        # A second batch, cancelled while the provider works on it: the provider batch is cancelled too.
        anthropic_stub.batches.latency_s = 60
        page.get_by_test_id("batch-action").select_option("regenerate_escalation_package")
        page.get_by_test_id("batch-dry-run").click()
        expect(page.get_by_test_id("batch-dry-run-total")).to_have_attribute("data-total", "40")
        page.get_by_test_id("batch-start").click()
        expect(page.get_by_test_id("batch-row")).to_have_count(2)
        second = page.get_by_test_id("batch-row").first
        expect(second.get_by_test_id("batch-cost")).to_contain_text("in_progress", timeout=JOB_WAIT_MS)
        second.get_by_test_id("batch-cancel").click()
        expect(second).to_have_attribute("data-status", "cancelled")
        expect(second.get_by_test_id("batch-cancel")).to_have_count(0)
        expect(second.get_by_test_id("batch-cost")).to_contain_text("ended", timeout=JOB_WAIT_MS)
    assert anthropic_stub.batches.calls["cancel"] == 1
    shot(page, "batches-cancelled")
    assert browser.unexpected_problems() == []


def test_reverify_mismatches_link_to_their_sessions(live_url, browser, engine, tenant, client, cw_sim, connected,
                                                   psa_worker, sweeper):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("admin",))
    sessions = []
    for ticket in (48291, 50001):
        if ticket != 48291:
            cw_sim.add_ticket(ticket)
        s = client.post("/api/v1/ai-sessions", json={"psa_connection_id": connected["id"], "psa_ticket_id": str(ticket),
                        "intake_content": {"problem": f"Printer offline ({ticket})"}}, headers=tenant.h("engineer")).get_json()
        job = client.post(f"/api/v1/ai-sessions/{s['id']}/resolution-note/post", json={"markdown": "fixed"},
                          headers=tenant.h("engineer")).get_json()["job"]
        assert wait_job(client, tenant.h("engineer"), job["id"])["status"] == "succeeded"
        sessions.append(s)
    cw_sim.set_status(50001, 1)  # reopened behind our back
    page = browser.page(PHONE)
    page.goto(f"{live_url}/app/admin/batches")
    sign_in(page, people.emails["admin"])
    page.get_by_test_id("batch-action").select_option("reverify_ticket_status")
    page.get_by_test_id("batch-dry-run").click()
    expect(page.get_by_test_id("batch-dry-run-total")).to_have_attribute("data-total", "2")
    page.get_by_test_id("batch-start").click()
    row = page.get_by_test_id("batch-row").first
    expect(row.get_by_test_id("batch-progress")).to_have_attribute("data-done", "2", timeout=JOB_WAIT_MS)
    mismatch = row.get_by_test_id("batch-mismatch")
    expect(mismatch).to_have_count(1)
    expect(mismatch).to_have_attribute("data-ticket-id", "50001")
    expect(mismatch).to_contain_text("we verified status 42")
    shot(page, "batches-mismatch-phone")
    mismatch.get_by_role("link", name="Session").click()
    expect(page).to_have_url(f"{live_url}/app/sessions/{sessions[1]['id']}")
    assert browser.unexpected_problems() == []
