"""The L1 workspace and the escalations queue in Chromium over the real stack: a technician on a phone takes a call
that matches and walks it to resolve, takes one that is out of scope and escalates it without a walk, resumes a
walk left open and escalates it; an engineer takes that escalation from the queue and lands in a session that
carries the walk. Also: a near miss offers the flow or an AI-built walk whose questions are written live."""
from __future__ import annotations

import re

import pytest

from tests.l1.flowdata import FLOWS, create_flow, put_category
from tests.pages.conftest import DESKTOP, JOB_WAIT_MS, PHONE, give_passwords, shot, sign_in, sync_api
from tests.pages.workspace import say


@pytest.fixture
def flows(client, tenant):
    made = {name: create_flow(client, tenant, body) for name, body in FLOWS.items()}
    put_category(client, tenant, "printing", enabled=False, keywords=["printer", "print", "toner"])
    put_category(client, tenant, "hardware", keywords=["monitor", "keyboard", "mouse", "dock"])
    return made


def intake(page, problem: str, customer: str = "", contact: str = "") -> None:
    page.get_by_test_id("intake-problem").fill(problem)
    page.get_by_test_id("intake-customer").fill(customer)
    page.get_by_test_id("intake-contact").fill(contact)
    page.get_by_test_id("intake-submit").click()


def test_l1_walks_resolves_escalates_resumes_and_an_engineer_takes_it(live_url, browser, engine, tenant, client,
                                                                        flows, worker):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("l1", "engineer"))
    page = browser.page(PHONE)
    page.goto(f"{live_url}/app")
    sign_in(page, people.emails["l1"])
    expect(page).to_have_url(re.compile(r"/app/l1$"))
    expect(page.get_by_role("link", name="Sessions")).to_have_count(0)  # L1 sees L1 only

    # A call that matches a published flow: the walk opens at its first question, score and words shown small.
    intake(page, "Outlook keeps asking for my password", "Dana at Contoso", "+1 555 0100")
    expect(page).to_have_url(re.compile(r"/app/l1/sessions/[0-9a-f-]{36}$"))
    first_walk = page.url.rsplit("/", 1)[1]
    note = page.get_by_test_id("intake-outcome")
    expect(note).to_have_attribute("data-outcome", "matched")
    expect(note).to_contain_text("score 0.")
    expect(note).to_contain_text("outlook")
    question = page.get_by_test_id("walk-question")
    expect(question).to_have_text("Does Outlook on the web accept the same password?")
    expect(question).to_be_focused()  # keyboard and screen-reader users land on the question
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "30-l1-walk-phone", full_page=False)
    page.keyboard.press("Tab")  # keyboard only: from the question to its first answer
    expect(page.get_by_test_id("walk-answer").filter(has_text="Yes")).to_be_focused()
    page.keyboard.press("Enter")
    expect(question).to_contain_text("Credential Manager")
    page.get_by_test_id("walk-note-input").fill("Customer cleared the saved entries herself")
    page.get_by_test_id("walk-note-add").click()
    expect(page.get_by_test_id("walk-path")).to_contain_text("Yes")
    page.get_by_test_id("walk-answer").filter(has_text="Yes").click()
    # The flow's end: its fix, and the resolve form open.
    expect(question).to_contain_text("prompts stopped")
    expect(page.get_by_test_id("walk-answer")).to_have_count(0)
    page.get_by_test_id("walk-helpful").select_option("yes")
    page.get_by_test_id("walk-resolution-notes").fill("Prompts stopped after clearing the entries")
    page.get_by_test_id("walk-submit").click()
    finished = page.get_by_test_id("walk-finished")
    expect(finished).to_have_attribute("data-status", "resolved")
    expect(finished).to_contain_text("Helpful: yes")
    expect(page.get_by_test_id("walk-note-input")).to_have_count(0)  # read-only now
    expect(page.get_by_test_id("walk-resolve")).to_have_count(0)
    walked = client.get(f"/api/v1/l1/sessions/{first_walk}", headers=tenant.h("l1")).get_json()
    assert walked["status"] == "resolved" and walked["helpful"] is True
    assert [p["answer"] for p in walked["walked_path"]] == ["Yes", "Yes"] and len(walked["walk_notes"]) == 1
    assert walked["ticket"]["customer_contact"] == "+1 555 0100"
    shot(page, "31-l1-resolved-phone")

    # A call L1 does not handle here (printing is switched off): say why, escalate without a walk.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="L1").click()
    intake(page, "The printer on floor 2 is not printing", "Front desk")
    outcome = page.get_by_test_id("intake-outcome")
    expect(outcome).to_have_attribute("data-outcome", "out_of_scope")
    expect(outcome).to_contain_text("“printing” problems are not handled by L1")
    page.get_by_test_id("walk-reason-category").select_option("hardware")
    page.get_by_test_id("walk-reason").fill("Toner light blinking, needs on-site visit")
    shot(page, "32-l1-out-of-scope-phone", full_page=False)
    page.get_by_test_id("escalate-without-walk").click()
    expect(page.get_by_test_id("toast")).to_contain_text("Escalated to the engineers' queue")
    printer_row = page.get_by_test_id("ticket-row").filter(has_text="printer on floor 2")
    expect(printer_row).to_have_attribute("data-status", "escalated")
    expect(page.get_by_test_id("intake-outcome")).to_have_count(0)

    # A walk left open: answer nothing, note something, leave; it comes back first under "Resume in progress".
    intake(page, "VPN disconnects every few minutes on the sales laptop", "Sam")
    expect(page.get_by_test_id("walk-question")).to_contain_text("wired Ethernet")
    vpn_walk = page.url.rsplit("/", 1)[1]
    page.get_by_test_id("walk-note-input").fill("Happens at the customer's office and at home")
    page.get_by_test_id("walk-note-add").click()
    expect(page.get_by_text("Happens at the customer's office and at home")).to_be_visible()
    page.goto(f"{live_url}/app/l1")  # a fresh load, as after a phone call interrupted
    resume = page.get_by_test_id("resume-item")
    expect(resume).to_have_count(1)
    expect(resume.first).to_have_attribute("data-session-id", vpn_walk)
    expect(page.get_by_test_id("ticket-row")).to_have_count(3)
    shot(page, "33-l1-home-phone")
    resume.first.click()
    expect(page.get_by_test_id("walk-question")).to_contain_text("wired Ethernet")
    page.get_by_test_id("walk-answer").filter(has_text="Both").click()
    expect(page.get_by_test_id("walk-question")).to_contain_text("escalate to network engineering")
    page.get_by_test_id("walk-reason-category").select_option("needs_engineer")
    page.get_by_test_id("walk-reason").fill("Drops on every network: gateway side")
    page.get_by_test_id("walk-submit").click()
    expect(page.get_by_test_id("walk-finished")).to_have_attribute("data-status", "escalated")
    page.goto(f"{live_url}/app/l1")
    expect(page.get_by_test_id("resume-item")).to_have_count(0)

    # An engineer takes it from the queue (newest first) and lands in a session that carries the walk.
    desk = browser.page(DESKTOP)
    desk.goto(f"{live_url}/app/escalations")
    sign_in(desk, people.emails["engineer"])
    rows = desk.get_by_test_id("escalation-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-l1-session-id", vpn_walk)
    expect(rows.first).to_contain_text("Drops on every network")
    expect(rows.first.get_by_test_id("escalation-path")).to_contain_text("Both")
    expect(rows.first).to_contain_text("Happens at the customer's office and at home")
    expect(rows.nth(1)).to_contain_text("Escalated without a walk")
    expect(rows.nth(1)).to_contain_text("Toner light blinking")
    shot(desk, "34-escalations")
    rows.first.get_by_test_id("escalation-take").click()
    expect(desk).to_have_url(re.compile(r"/app/sessions/[0-9a-f-]{36}$"))
    session_id = desk.url.rsplit("/", 1)[1]
    walk = desk.get_by_test_id("session-l1-walk")
    expect(walk).to_contain_text("Does the tunnel drop on wired Ethernet as well as Wi-Fi?")
    expect(walk).to_contain_text("Both")
    expect(walk).to_contain_text("Happens at the customer's office and at home")
    expect(walk).to_contain_text("Drops on every network: gateway side")
    expect(desk.get_by_role("heading", level=1)).to_contain_text("VPN disconnects")
    say(desk, "Picking this up from L1")  # the assistant answers in the same session
    shot(desk, "35-session-from-l1")

    # The queue now says who took it and links there; a second take is impossible.
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Escalations").click()
    taken = desk.locator(f"[data-testid=escalation-row][data-l1-session-id='{vpn_walk}']")
    expect(taken).to_have_attribute("data-taken", "true")
    expect(taken).to_contain_text(f"Taken by {people.emails['engineer']}")
    expect(taken.get_by_test_id("escalation-take")).to_have_count(0)
    taken.get_by_test_id("escalation-taken-link").click()
    expect(desk).to_have_url(re.compile(rf"/app/sessions/{session_id}$"))
    assert browser.unexpected_problems() == []


def test_a_near_miss_offers_the_flow_or_an_ai_built_walk(live_url, browser, engine, tenant, other_tenant, client,
                                                         flows, worker):
    expect = sync_api.expect
    people = give_passwords(engine, tenant, ("l1",))
    foreign = client.post("/api/v1/l1/escalate-without-walk", json={"problem_statement": "Someone else's laptop"},
                          headers=other_tenant.h("l1")).get_json()["id"]
    page = browser.page(DESKTOP)
    page.goto(f"{live_url}/app/l1/sessions/{foreign}")  # another tenant's walk: not found, nothing of it shown
    sign_in(page, people.emails["l1"])
    expect(page.get_by_test_id("not-found")).to_be_visible()
    assert "laptop" not in page.content().lower()
    page.goto(f"{live_url}/app/escalations")  # engineers' page: said so, not an error
    expect(page.get_by_test_id("not-allowed")).to_be_visible()
    page.goto(f"{live_url}/app/l1")

    intake(page, "Outlook crashes when I open an attachment")
    outcome = page.get_by_test_id("intake-outcome")
    expect(outcome).to_have_attribute("data-outcome", "suggest")
    expect(outcome).to_contain_text("Outlook keeps asking for a password")
    shot(page, "36-l1-suggest")
    page.get_by_test_id("intake-use-suggestion").click()
    expect(page.get_by_test_id("intake-outcome")).to_have_attribute("data-reason", "chosen")
    expect(page.get_by_test_id("walk-question")).to_have_text("Does Outlook on the web accept the same password?")

    # The same near miss, this time a new walk built by the assistant, one question at a time (a job each).
    page.goto(f"{live_url}/app/l1")
    intake(page, "Outlook crashes when I open an attachment")
    page.get_by_test_id("intake-build").click()
    expect(page.get_by_test_id("intake-outcome")).to_have_attribute("data-outcome", "build")
    question = page.get_by_test_id("walk-question")
    expect(question).to_be_visible(timeout=JOB_WAIT_MS)  # the l1.next_node job wrote it
    expect(page.get_by_test_id("walk-next-pending")).to_have_count(0)
    first = question.inner_text()
    page.get_by_test_id("walk-answer").first.click()
    expect(question).not_to_have_text(first, timeout=JOB_WAIT_MS)  # the next one, generated after the answer
    expect(page.get_by_test_id("walk-path")).to_contain_text(first)
    shot(page, "37-l1-ai-walk")
    page.get_by_test_id("walk-escalate").click()
    page.get_by_test_id("walk-reason").fill("Crashes persist in safe mode")
    page.get_by_test_id("walk-submit").click()
    expect(page.get_by_test_id("walk-finished")).to_have_attribute("data-status", "escalated")
    assert browser.unexpected_problems() == []
