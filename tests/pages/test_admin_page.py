"""Account setup in Chromium over the real stack: an admin connects the ConnectWise simulator, tests the
connection (a job), maps statuses from the board's dropdowns (jobs), imports and publishes flows (errors shown
against their nodes), writes a draft, switches a category off, adds a user whose one-time password signs in,
resets a password and revokes a token."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.l1.flowdata import OUTLOOK, VPN
from tests.pages.conftest import DESKTOP, JOB_WAIT_MS, PHONE, give_passwords, shot, sign_in, sync_api

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "flows.json"
BROKEN = {**VPN, "title": "VPN broken", "nodes": [
    {"id": "v1", "type": "question", "text": "Wired or Wi-Fi?", "answers": [{"label": "Wi-Fi", "next": "nowhere"}]},
    {"id": "v_fix", "type": "resolve", "text": "Disable power saving."}]}
CYCLE = {"title": "Loops", "category": "network", "nodes": [
    {"id": "a", "type": "question", "text": "A?", "answers": [{"label": "Yes", "next": "b"}]},
    {"id": "b", "type": "question", "text": "B?", "answers": [{"label": "Yes", "next": "a"}, {"label": "No", "next": "end"}]},
    {"id": "end", "type": "resolve", "text": "Done."}]}


def upload(page, doc) -> None:
    page.get_by_test_id("flow-import-file").set_input_files(files=[
        {"name": "flows.json", "mimeType": "application/json", "buffer": json.dumps(doc).encode()}])


def test_admin_connects_tests_maps_imports_and_manages_people(live_url, browser, engine, tenant, client, cw_sim,
                                                               worker):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("admin", "engineer"))
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/admin")
    sign_in(page, people.emails["admin"])
    expect(page.get_by_role("heading", name="Account setup")).to_be_visible()

    # Connect the simulator: every field, then the keys are gone from the form (write-only).
    page.get_by_test_id("psa-site-url").fill(cw_sim.site_url)
    page.get_by_test_id("psa-company-id").fill("demo")
    page.get_by_test_id("psa-client-id").fill("browser-tests")
    page.get_by_test_id("psa-public-key").fill("pub")
    page.get_by_test_id("psa-private-key").fill("priv")
    page.get_by_test_id("psa-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("Connection saved")
    expect(page.get_by_test_id("psa-public-key")).to_have_value("")
    expect(page.get_by_test_id("psa-public-key")).to_have_attribute("placeholder", "unchanged")
    conn = client.get("/api/v1/psa-connections", headers=tenant.h("admin")).get_json()["items"][0]
    assert conn["company_id"] == "demo" and conn["client_id"] == "browser-tests"
    expect(page.get_by_test_id("psa-private-key")).to_have_value("")

    # Test it: a job that looks the company up and makes one authenticated read, shown live.
    page.get_by_test_id("psa-test").click()
    result = page.get_by_test_id("psa-test-result")
    expect(result).to_have_attribute("data-ok", "true", timeout=JOB_WAIT_MS)
    expect(result).to_contain_text("Connected to")

    # Changing the company asks for the keys again, before anything is sent.
    page.get_by_test_id("psa-company-id").fill("demo2")
    page.get_by_test_id("psa-save").click()
    expect(page.get_by_test_id("psa-error")).to_contain_text("enter the public and private key again")
    expect(page.get_by_test_id("psa-public-key")).to_be_focused()
    page.get_by_test_id("psa-company-id").fill("demo")

    # Status mapping from ConnectWise's own lists (each a job, then a short-lived cache).
    board = page.get_by_test_id("status-board")
    expect(board.locator("option", has_text="Help Desk")).to_have_count(1, timeout=JOB_WAIT_MS)
    board.select_option(label="Help Desk")
    resolved = page.get_by_test_id("status-resolved")
    expect(resolved.locator("option", has_text="Resolved")).to_have_count(1, timeout=JOB_WAIT_MS)
    resolved.select_option(label="Resolved")
    page.get_by_test_id("status-escalated").select_option(label="Escalated")
    page.get_by_test_id("status-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("“Resolved”")
    prefs = client.get("/api/v1/account-settings", headers=tenant.h("admin")).get_json()["preferences"]
    assert prefs["cw_resolved_status_id"] == 42 and prefs["cw_escalated_status_id"] == 43 and prefs["cw_board_id"] == 21
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Dismiss notification").click()
    shot(page, "20-admin-connection", full_page=False)

    # Import: a broken file imports nothing and names the node; a good one imports drafts; publish one.
    upload(page, {"flows": [OUTLOOK, BROKEN]})
    page.get_by_test_id("flow-import").click()
    errors = page.get_by_test_id("flow-errors")
    expect(errors).to_contain_text("Nothing was imported")
    expect(errors).to_contain_text("Flow 2 (“VPN broken”) › node 1 (“v1”) › answer 1 › next")
    expect(page.get_by_test_id("flow-row")).to_have_count(0)
    upload(page, json.loads(EXAMPLE.read_text()))  # the example file the README points to
    page.get_by_test_id("flow-import").click()
    expect(page.get_by_test_id("toast")).to_contain_text("3 flows imported as drafts")
    rows = page.get_by_test_id("flow-row")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("flow-errors")).to_have_count(0)
    outlook = rows.filter(has_text=OUTLOOK["title"])
    outlook.get_by_test_id("flow-publish").click()
    expect(outlook).to_have_attribute("data-status", "published")
    outlook.get_by_role("button", name="View tree").click()
    tree = page.get_by_test_id("flow-tree")
    expect(tree).to_contain_text("Does Outlook on the web accept the same password?")
    expect(tree.locator(".tree-answer")).to_have_count(4)

    # A draft from JSON: a cycle is shown against its node; fixed, it saves.
    page.get_by_test_id("flow-new").click()
    page.get_by_test_id("flow-json").fill(json.dumps(CYCLE))
    page.get_by_test_id("flow-save").click()
    expect(page.get_by_test_id("flow-errors")).to_contain_text("Node 1 (“a”): cycle: a → b → a")
    fixed = {**CYCLE, "nodes": [CYCLE["nodes"][0], {**CYCLE["nodes"][1], "answers": [{"label": "No", "next": "end"}]},
                                CYCLE["nodes"][2]]}
    page.get_by_test_id("flow-json").fill(json.dumps(fixed))
    page.get_by_test_id("flow-save").click()
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="Loops")).to_have_attribute("data-status", "draft")

    # Categories: the import brought four; network goes out of scope.
    network = page.get_by_test_id("category-row").filter(has_text="network")
    expect(network).to_have_attribute("data-enabled", "true")
    network.get_by_test_id("category-enabled").uncheck()
    expect(network).to_have_attribute("data-enabled", "false")
    cats = {c["name"]: c for c in client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]}
    assert cats["network"]["enabled"] is False and cats["email"]["enabled"] is True
    shot(page, "21-admin-flows")

    # People: add an L1 technician; the generated password is shown once and signs in.
    page.get_by_test_id("user-create-email").fill("dana.l1@acme-msp.test")
    page.get_by_test_id("user-create-role").select_option("l1")
    page.get_by_test_id("user-create-submit").click()
    once = page.get_by_test_id("user-password-once")
    expect(once).to_be_visible()
    password = once.inner_text().strip()
    expect(page.get_by_test_id("user-row").filter(has_text="dana.l1@acme-msp.test")).to_have_attribute("data-role", "l1")
    phone = browser.page(PHONE)
    phone.goto(f"{live_url}/app")
    sign_in(phone, "dana.l1@acme-msp.test", password)
    expect(phone).to_have_url(re.compile(r"/app/l1$"))
    expect(phone.get_by_role("link", name="Admin")).to_have_count(0)
    phone.goto(f"{live_url}/app/admin")
    expect(phone.get_by_test_id("not-allowed")).to_be_visible()
    # They set their own password on the account page (the nav shows their email, a link to it).
    phone.get_by_test_id("nav-user").click()
    phone.get_by_test_id("password-current").fill(password)
    phone.get_by_test_id("password-new").fill("dana's own passphrase")
    phone.get_by_test_id("password-again").fill("dana's own passphrase")
    phone.get_by_test_id("password-submit").click()
    expect(phone.get_by_test_id("toast")).to_contain_text("Password changed")
    assert client.post("/api/v1/auth/login", json={"email": "dana.l1@acme-msp.test", "password": "dana's own passphrase"}
                       ).status_code == 200

    # Reset the engineer's password: shown once, their sign-in ends.
    page.get_by_role("button", name="Done").click()
    engineer = page.get_by_test_id("user-row").filter(has_text=people.emails["engineer"])
    engineer.get_by_test_id("user-reset").click()
    engineer.get_by_test_id("user-reset-confirm").click()
    expect(page.get_by_test_id("user-password-once")).to_be_visible()
    new_password = page.get_by_test_id("user-password-once").inner_text().strip()
    assert new_password and new_password != password
    assert client.post("/api/v1/auth/login", json={"email": people.emails["engineer"], "password": new_password}
                       ).status_code == 200

    # Tokens: the engineer's API token is listed and revoked; it stops working at once.
    tokens = page.get_by_test_id("token-row")
    page.reload()
    expect(tokens.first).to_be_visible()
    engineer_api = tokens.filter(has_text=people.emails["engineer"]).and_(page.locator("[data-kind=api]"))
    expect(engineer_api).to_have_count(1)
    engineer_api.get_by_test_id("token-revoke").click()
    engineer_api.get_by_test_id("token-revoke-confirm").click()
    expect(page.get_by_test_id("toast")).to_contain_text("revoked")
    expect(engineer_api).to_have_count(0)
    assert client.get("/api/v1/me", headers=tenant.h("engineer")).status_code == 401
    page.get_by_role("button", name="Dismiss notification").click()
    shot(page, "22-admin-people")
    assert browser.unexpected_problems() == []


def test_admin_page_on_a_phone_and_a_failing_test_in_words(live_url, browser, engine, tenant, client, cw_sim, worker):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("admin",))
    client.post("/api/v1/psa-connections", headers=tenant.h("admin"), json={
        "provider": "connectwise", "site_url": cw_sim.site_url, "company_id": "demo", "public_key": "pub",
        "private_key": "not-the-key", "client_id": "browser-tests"})
    page = browser.page(PHONE)
    page.goto(f"{live_url}/app/admin")
    sign_in(page, people.emails["admin"])
    expect(page.get_by_test_id("psa-company-id")).to_have_value("demo")
    page.get_by_test_id("psa-test").click()
    result = page.get_by_test_id("psa-test-result")
    expect(result).to_have_attribute("data-ok", "false", timeout=JOB_WAIT_MS)
    expect(result).to_have_attribute("data-code", "psa_auth_failed")
    expect(result).to_contain_text("ConnectWise refused the keys")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "23-admin-phone", full_page=False)
    # New keys (the site and company stay): the test passes.
    page.get_by_test_id("psa-private-key").fill("priv")
    page.get_by_test_id("psa-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("Connection updated")
    page.get_by_test_id("psa-test").click()
    expect(result).to_have_attribute("data-ok", "true", timeout=JOB_WAIT_MS)
    # Deactivate (asked first): nothing posts through it, the test is off; then active again.
    page.get_by_test_id("psa-deactivate").click()
    page.get_by_test_id("psa-deactivate-confirm").click()
    expect(page.get_by_test_id("psa-activate")).to_be_visible()
    expect(page.get_by_test_id("psa-test")).to_be_disabled()
    assert client.get("/api/v1/psa-connections", headers=tenant.h("admin")).get_json()["items"][0]["is_active"] is False
    page.get_by_test_id("psa-activate").click()
    expect(page.get_by_test_id("psa-test")).to_be_enabled()
    # Keyboard: the in-page index jumps to a section.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="People").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#people$"))
    expect(page.get_by_test_id("user-create-email")).to_be_in_viewport()
