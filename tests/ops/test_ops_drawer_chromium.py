"""The console's job drawer and the last hour's charts in a real headless Chromium (issue 18).

A deep link (/ops#job=<id>) opened before signing in shows the job's story after sign-in: every attempt's error
in words, the recovery points with the ConnectWise note id, payload (secrets redacted) and result as JSON; a
failed job is retried from the drawer and its second attempt appears. The charts draw a seeded hour and show a
minute's figures on hover. Screenshots: docs/screenshots/40-ops-job-drawer.png, 41-ops-last-hour.png.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from db.engine import SYSTEM, transaction
from db.models import Job, JobAttempt
from tests.helpers import wait_job
from tests.ops.test_console_chromium import browser_page, live_url, sync_api  # noqa: F401 - fixtures

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def seed_hour(engine, account_id):
    """~15 finished jobs a minute over the last 55 minutes, each with its attempt; waits and run times that vary.
    (Not the whole hour: the window moves on at each minute, and a job near its start could leave it between the
    API's answer and the page's.)"""
    with transaction(engine, SYSTEM) as db:
        db.execute(text("""
            INSERT INTO jobs (id, account_id, kind, status, attempts, created_at, started_at, finished_at)
            SELECT gen_random_uuid(), :a, CASE WHEN g % 3 = 0 THEN 'writeback.resolution_note' ELSE 'system.echo' END,
                   CASE WHEN g % 17 = 0 THEN 'failed' WHEN g % 29 = 0 THEN 'cancelled' ELSE 'succeeded' END, 1,
                   t - interval '3 seconds', t - interval '1 second', t
            FROM generate_series(1, 825) g, LATERAL (SELECT now() - g * interval '4 seconds' AS t) x"""), {"a": account_id})
        db.execute(text("""
            INSERT INTO job_attempts (job_id, account_id, kind, number, worker, due_at, started_at, finished_at,
                                      outcome, external_errors)
            SELECT id, account_id, kind, 1, 'vm:4242',
                   finished_at - run - wait, finished_at - run, finished_at, status,
                   CASE WHEN status = 'failed' THEN 1 ELSE 0 END
            FROM jobs, LATERAL (SELECT
                (0.4 + 0.35 * sin(extract(epoch FROM finished_at) / 400) + random() * 0.5) * interval '1 second' AS wait,
                (0.9 + 0.6 * cos(extract(epoch FROM finished_at) / 700) + random() * 0.8) * interval '1 second' AS run) v
            WHERE account_id = :a AND status <> 'cancelled'"""), {"a": account_id})


def seed_writeback(engine, account_id, session_id):
    """A writeback that failed on its third attempt after posting its note: what an operator gets asked about."""
    now = datetime.now(UTC)
    job_id = uuid.uuid4()
    with transaction(engine, SYSTEM) as db:
        db.add(Job(
            id=job_id, account_id=account_id, kind="writeback.resolution_note", status="failed", attempts=3,
            session_id=uuid.UUID(session_id), dedupe_key=f"writeback:{session_id}", idempotency_key="idem-7f3a",
            payload={"markdown": "## Summary\n\nPrinter back online.", "summary": "spooler restarted",
                     "psa_private_key": "should-never-show"},
            steps={"note_attempted": {"at": (now - timedelta(minutes=4)).isoformat(), "watermark": 1200},
                   "note_posted": {"external_id": "1234", "posted_at": (now - timedelta(minutes=2)).isoformat(),
                                   "adopted": True},
                   "status_changed": {"requested_status_id": 42, "at": (now - timedelta(minutes=1)).isoformat()}},
            error={"code": "status_verification_failed", "message": "ticket 48291 still shows status 1 (New) after "
                   "asking for 42", "detail": {"observed": {"id": 1, "name": "New"}}},
            created_at=now - timedelta(minutes=5), started_at=now - timedelta(minutes=4), finished_at=now - timedelta(seconds=50)))
        db.flush()
        rows = [
            (1, 4.0, 3.6, "retrying", {"code": "psa_unavailable", "message": "ConnectWise unavailable (500): An unexpected error has occurred"}, None, 1, "note_attempted"),
            (2, 2.5, 2.2, "retrying", {"code": "psa_rate_limited", "message": "ConnectWise rate limited (429)"}, 2.0, 1, "note_posted"),
            (3, 1.2, 0.85, "failed", {"code": "status_verification_failed", "message": "ticket 48291 still shows status 1 (New) after asking for 42"}, None, 0, "status_changed"),
        ]
        for n, start_min, end_min, outcome, error, retry_after, ext, step in rows:
            db.add(JobAttempt(job_id=job_id, account_id=account_id, kind="writeback.resolution_note", number=n,
                              worker="vm:31337", due_at=now - timedelta(minutes=start_min, seconds=0.3),
                              started_at=now - timedelta(minutes=start_min), finished_at=now - timedelta(minutes=end_min),
                              outcome=outcome, error=error, retry_after_s=retry_after, step=step, external_errors=ext,
                              next_attempt_at=(now - timedelta(minutes=end_min) + timedelta(seconds=retry_after or 0.8))
                              if outcome == "retrying" else None))
    return str(job_id)


def sign_in(page, base_url, operator, path):
    page.goto(f"{base_url}{path}")
    page.click(".token-login summary")
    page.fill("#token", operator["Authorization"].split(" ", 1)[1])
    page.click("#login-form button[type=submit]")


def test_job_drawer_deep_link_story_and_retry(live_url, browser_page, client, engine, tenant, operator, worker):  # noqa: F811
    page, expect = browser_page, sync_api.expect
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    seed_hour(engine, tenant.account_id)
    session = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printer offline"}},
                          headers=tenant.h("engineer")).get_json()
    wb = seed_writeback(engine, tenant.account_id, session["id"])

    sign_in(page, live_url, operator, f"/ops#job={wb}")  # the deep link survives the sign-in
    drawer = page.locator("#job-drawer")
    expect(drawer).to_be_visible()
    expect(drawer).to_have_attribute("data-status", "failed")
    attempts = drawer.locator("#job-attempts .attempt")
    expect(attempts).to_have_count(3)
    expect(attempts.nth(0)).to_contain_text("failed, to be retried: ConnectWise unavailable (500)")
    expect(attempts.nth(0)).to_contain_text("1 external call(s) failed")
    expect(attempts.nth(1)).to_contain_text("asked to wait 2.0 s (Retry-After), and it was honoured")
    expect(attempts.nth(2)).to_contain_text("failed for good: ticket 48291 still shows status 1 (New)")
    expect(attempts.nth(2)).to_contain_text("vm:31337")
    expect(drawer.locator("#job-steps")).to_contain_text("ConnectWise note #1234")
    expect(drawer.locator("#job-steps")).to_contain_text("adopted, not posted twice")
    expect(drawer.locator("#job-steps li")).to_have_count(3)
    payload = drawer.locator("#job-payload pre")
    expect(payload).to_contain_text('"psa_private_key": "[redacted]"')
    assert "should-never-show" not in page.content()
    expect(drawer.locator("#job-summary")).to_contain_text(f"writeback:{session['id']}")
    expect(drawer.locator("#job-summary")).to_contain_text("idem-7f3a")
    expect(drawer.locator("#job-session-link")).to_have_attribute("href", f"/app/sessions/{session['id']}")
    expect(drawer.locator("#job-timeline li").first).to_contain_text("Created")
    expect(drawer.locator("#job-timeline li").last).to_contain_text("Finished: failed")
    expect(drawer.locator("#job-retry")).to_be_visible()
    expect(drawer.locator("#job-cancel")).to_have_count(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "40-ops-job-drawer.png"))

    # A real job that failed: fix the cause, retry from the drawer, watch its second attempt arrive.
    r = client.post("/api/v1/jobs", json={"kind": "system.echo", "fail_permanently": True, "payload": {"n": 7}},
                    headers=tenant.h())
    echo = r.get_json()["job"]["id"]
    assert wait_job(client, tenant.h(), echo)["status"] == "failed"
    page.click("#job-close")
    expect(drawer).to_be_hidden()
    assert "#job=" not in page.url
    page.locator(f'#jobs tr[data-job-id="{echo}"] a.job-link').click()  # the row's link opens the drawer
    expect(drawer).to_have_attribute("data-job-id", echo)
    assert page.url.endswith(f"#job={echo}")
    expect(drawer.locator("#job-attempts .attempt")).to_have_count(1)
    expect(drawer.locator("#job-attempts .attempt")).to_contain_text("permanent failure requested by the caller (echo_failed)")
    with transaction(engine, SYSTEM) as db:
        db.execute(text("UPDATE jobs SET payload = jsonb_set(payload, '{_options,fail_permanently}', 'false') "
                        "WHERE id = :id"), {"id": echo})
    drawer.locator("#job-retry").click()
    expect(page.locator("#banner")).to_contain_text("queued again")
    expect(drawer).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(drawer.locator("#job-attempts .attempt")).to_have_count(2)
    expect(drawer.locator('#job-attempts .attempt[data-number="2"]')).to_have_attribute("data-outcome", "succeeded")
    expect(drawer.locator('#job-timeline [data-event="retried"]')).to_have_count(1)
    expect(drawer.locator("#job-result pre")).to_contain_text('"n": 7')
    # A job without an error has no error section, and no stray text where it would be (was: "null").
    assert page.evaluate("[...document.querySelector('#job-body').childNodes].filter(n => n.nodeType === 3).length") == 0

    # Someone else's or a missing job: a "not found" state, not an error page.
    page.evaluate(f"window.location.hash = 'job={uuid.uuid4()}'")
    expect(drawer.locator('[data-testid="not-found"]')).to_be_visible()
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    assert [p for p in problems if "404" not in p and not p.startswith("Failed to load resource")] == []


def test_last_hour_charts_draw_and_show_figures_on_hover(live_url, browser_page, client, engine, tenant, operator):  # noqa: F811
    page, expect = browser_page, sync_api.expect
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    seed_hour(engine, tenant.account_id)
    stats = client.get("/api/v1/ops/stats", headers=operator).get_json()
    succeeded = sum(stats["all"]["finished"]["succeeded"])
    assert succeeded > 700  # the seeded hour (the oldest few may fall just outside the window)

    sign_in(page, live_url, operator, "/ops")
    expect(page.locator('#charts[data-loaded="true"]')).to_be_visible()
    expect(page.locator("#charts canvas")).to_have_count(3)
    expect(page.locator('#stats-totals [data-stat="succeeded"] strong')).to_have_text(f"{succeeded:,}")
    chart = page.locator("#chart-finished .u-over")
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    tip = page.locator("#chart-finished .chart-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("succeeded:")
    expect(tip).to_contain_text("failed:")
    legend = page.locator("#chart-finished .u-legend")
    expect(legend).to_contain_text("succeeded")
    lat = page.locator("#chart-latency .u-over").bounding_box()
    assert lat is not None
    page.screenshot(path=str(SHOTS / "41-ops-last-hour.png"), clip={"x": 0, "y": 0, "width": 1440, "height": 760})
    page.mouse.move(lat["x"] + lat["width"] * 0.5, lat["y"] + lat["height"] * 0.5)
    expect(page.locator("#chart-latency .chart-tip")).to_contain_text("queue wait p95:")

    page.select_option("#stats-kind", "writeback.resolution_note")  # one kind's series
    wb = sum(stats["kinds"]["writeback.resolution_note"]["finished"]["succeeded"])
    expect(page.locator('#stats-totals [data-stat="succeeded"] strong')).to_have_text(f"{wb:,}")
    assert problems == []
