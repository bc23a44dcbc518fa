"""The ops console in a real headless Chromium (Debian's `chromium`, driven by Playwright).

The app is served over HTTP on a loopback port with real Dramatiq worker threads behind it. The test
logs in with an operator token, finds a failed job with its error, "fixes the cause" in the database
the way an operator would, clicks Retry and watches the job succeed. Screenshot: tests/artifacts/.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from db.engine import SYSTEM, transaction
from db.models import Batch, Job
from tests.helpers import wait_job

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[test]')")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        context.set_default_timeout(20_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()


def seed_batch(engine: Any, account_id: uuid.UUID) -> str:
    """A running batch, part done, whose one failed child has an error full of markup (must show as text)."""
    with transaction(engine, SYSTEM) as db:
        batch = Batch(id=uuid.uuid4(), account_id=account_id, action="regenerate_resolution_note", filter={},
                      status="running", total=16)
        db.add(batch)
        db.flush()
        children = ["succeeded"] * 10 + ["cancelled", "failed"]
        for status in children:
            error = ({"code": "llm_unavailable", "message": "upstream said <b>overloaded</b> <img src=x>"}
                     if status == "failed" else None)
            db.add(Job(id=uuid.uuid4(), account_id=account_id, kind="preview.resolution_note", queue="batch",
                       status=status, attempts=1, batch_id=batch.id, error=error))
        return str(batch.id)


def test_console_shows_failed_job_and_retry_succeeds(live_url, browser_page, client, engine, tenant, operator,
                                                    worker):
    page = browser_page
    expect = sync_api.expect
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    r = client.post("/api/v1/jobs", json={"kind": "system.echo", "fail_permanently": True}, headers=tenant.h())
    assert r.status_code == 202
    job_id = r.get_json()["job"]["id"]
    assert wait_job(client, tenant.h(), job_id)["status"] == "failed"
    batch_id = seed_batch(engine, tenant.account_id)

    page.goto(f"{live_url}/ops")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    page.click(".token-login summary")  # the pasted-token form, next to the email/password sign-in

    # A tenant's token is not an operator's: 403 sends us back to the form with a message.
    page.fill("#token", tenant.tokens["owner"])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-message")).to_contain_text("not a platform operator")
    expect(page.locator("#console")).to_be_hidden()

    token = operator["Authorization"].split(" ", 1)[1]
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#console")).to_be_visible()
    assert token not in page.url
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('flowpilot.token')") == token

    # The failed tab is the default view: the job, its error code and message, a Retry button.
    row = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("system.echo")
    expect(row).to_contain_text("echo_failed")
    expect(row).to_contain_text("permanent failure requested by the caller")
    expect(row.locator("button[data-action=retry]")).to_be_visible()
    expect(page.locator('#counts [data-status="failed"] .n')).to_have_text("2")
    expect(page.locator('#queues tr[data-queue="interactive"]')).to_be_visible()
    expect(page.locator("#workers li").first).to_contain_text("running")

    # Markup in an error message is shown as text, never parsed.
    child = page.locator("#jobs tr", has_text="llm_unavailable")
    expect(child).to_contain_text("upstream said <b>overloaded</b> <img src=x>")
    assert child.locator("b, img").count() == 0

    # The running batch, with a progress bar sized from its children.
    batch = page.locator(f'#batches .batch[data-batch-id="{batch_id}"]')
    expect(batch).to_contain_text("regenerate resolution note")
    expect(batch).to_contain_text("10 succeeded · 1 failed · 1 cancelled · 4 pending of 16")
    expect(batch.locator(".pct")).to_have_text("75%")
    widths = batch.locator(".bar > span").evaluate_all("els => els.map(e => e.style.width)")
    assert widths == ["62.5%", "6.25%", "6.25%"]

    # The operator fixes the cause, then retries from the console.
    with transaction(engine, SYSTEM) as db:
        db.execute(text("UPDATE jobs SET payload = jsonb_set(payload, '{_options,fail_permanently}', 'false') "
                        "WHERE id = :id"), {"id": job_id})
    row.locator("button[data-action=retry]").click()
    expect(page.locator("#banner")).to_contain_text("queued again")
    expect(row).to_have_count(0)  # no longer failed

    page.click('#tabs [data-status="succeeded"]')
    done = page.locator(f'#jobs tr[data-job-id="{job_id}"][data-status="succeeded"]')
    expect(done).to_be_visible()
    expect(done).to_contain_text("1/")
    assert wait_job(client, tenant.h(), job_id)["status"] == "succeeded"

    page.click('#tabs [data-status=""]')  # "all": a representative view for the screenshot
    expect(page.locator(f'#jobs tr[data-job-id="{job_id}"]')).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ops_console.png"), full_page=True)

    # A token that stops working (401) brings the login form back with a message.
    page.evaluate("sessionStorage.setItem('flowpilot.token', 'fp_' + 'x'.repeat(40))")
    page.reload()
    expect(page.locator("#login-message")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('flowpilot.token')") is None

    noise = ("Failed to load resource",)  # the deliberate 401/403s above
    assert [p for p in problems if not p.startswith(noise)] == []
