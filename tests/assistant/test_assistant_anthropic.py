"""The assistant over the real anthropic SDK, streaming from the local stub (SSE in the real wire format)."""
from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg2
import pytest

from db.models import SessionMessage
from shared.jobs.service import JobRef
from tests.assistant.chat import active_fix, new_session, post, say, transcript
from tests.helpers import count_rows, start_worker, wait_job

FIX_CALL = {"name": "suggest_fix", "input": {
    "title": "Restart the print spooler", "description": "Clears the stuck queue.", "confidence_pct": 72,
    "script": "param([string]$PrinterName = 'Floor2')\nRestart-Service Spooler", "script_language": "powershell",
    "script_parameters": {"PrinterName": {"description": "printer", "default": "Floor2"}}}}
FACTS_CALL = {"name": "record_facts", "input": {"facts": ["14 jobs are stuck in the queue", "The printer answers ping"]}}


def metric(client, operator: dict[str, str], name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in client.get("/metrics", headers=operator).get_data(as_text=True).splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def watch(client, headers: dict[str, str], job_id: str, timeout: float = 20.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Long-poll the job like a page would; every state seen (status, progress) and the final job."""
    seen, etag, deadline = [], None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = dict(headers, **({"If-None-Match": etag} if etag else {}))
        r = client.get(f"/api/v1/jobs/{job_id}" + ("?wait=5" if etag else ""), headers=h)
        if r.status_code == 304:
            continue
        body, etag = r.get_json(), r.headers["ETag"]
        seen.append({"status": body["status"], "progress": body["progress"], "at": time.monotonic()})
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return seen, body
    raise AssertionError(f"job {job_id} did not finish: {seen[-1:]}")


@pytest.fixture
def fast_timeout_worker(llm_settings):
    with start_worker(llm_settings.model_copy(update={"flowpilot_llm_timeout_s": 1.0})) as w:
        yield w


@pytest.mark.usefixtures("llm_worker")
def test_the_reply_grows_in_progress_before_it_finishes(client, tenant, anthropic_stub):
    text = "Let's look at the spooler first. " * 12
    anthropic_stub.enqueue("ok", text=text, chunk_delay_s=0.08)
    sid = new_session(client, tenant)["id"]
    job = post(client, tenant, sid, "Nobody can print").get_json()["job"]
    seen, done = watch(client, tenant.h("engineer"), job["id"])
    partials = [s["progress"]["partial"] for s in seen if s["status"] == "running" and s["progress"]]
    assert len(set(partials)) >= 3, seen  # the poller saw the text grow, several times, while it ran
    assert all(text.startswith(p) for p in partials) and len(partials[0]) < len(text)
    assert partials == sorted(partials, key=len)
    first_partial = next(s["at"] for s in seen if s["progress"])
    assert first_partial < seen[-1]["at"]
    assert done["status"] == "succeeded" and done["progress"] is None
    assert done["result"]["message"]["content"] == text.strip() and done["result"]["generator"] == "anthropic"


@pytest.mark.usefixtures("llm_worker")
def test_request_streams_with_tools_and_caches_the_stable_prefix(client, tenant, anthropic_stub, operator):
    sid = new_session(client, tenant, problem="VPN drops every 10 minutes")["id"]
    say(client, tenant, sid, "It drops on home Wi-Fi only")
    before = metric(client, operator, "flowpilot_llm_tokens_total", model="claude-sonnet-5", direction="cache_read")
    say(client, tenant, sid, "The MTU test says the packet needs to be fragmented")
    first, second = (r.body for r in anthropic_stub.requests[-2:])
    for body in (first, second):
        assert body["stream"] is True and body["tool_choice"] == {"type": "auto"} and "temperature" not in body
        assert [t["name"] for t in body["tools"]] == ["suggest_fix", "record_facts", "propose_outcome"]
        assert [b.get("cache_control") for b in body["system"]] == [{"type": "ephemeral"}] * 2
        assert "VPN drops every 10 minutes" in body["system"][1]["text"]  # the session block, stable per session
        last = body["messages"][-1]
        assert last["role"] == "user" and "cache_control" not in last["content"][0]
        assert "Current session state (JSON)" in last["content"][0]["text"]
    assert len(first["messages"]) == 1
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][0]["content"] == "It drops on home Wi-Fi only"
    assert second["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}  # the history's end
    assert second["messages"][2]["content"][0]["text"].endswith("packet needs to be fragmented")
    # The second turn reads the system prefix the first one wrote: counted as cache reads in the metrics.
    assert metric(client, operator, "flowpilot_llm_tokens_total", model="claude-sonnet-5", direction="cache_read") > before
    assert metric(client, operator, "flowpilot_llm_tokens_total", model="claude-sonnet-5", direction="output") > 0


@pytest.mark.usefixtures("llm_worker")
def test_tool_calls_become_the_fix_facts_and_outcome_proposal(client, tenant, anthropic_stub):
    sid = new_session(client, tenant)["id"]
    anthropic_stub.enqueue("ok", text="The queue is wedged; restart the spooler.", tools=[FIX_CALL, FACTS_CALL])
    result = say(client, tenant, sid, "14 jobs are stuck; the printer answers ping")["result"]
    fix = active_fix(client, tenant, sid)
    assert fix["id"] == result["suggested_fix_id"] and fix["title"] == "Restart the print spooler"
    assert fix["confidence_pct"] == 72 and fix["script_language"] == "powershell"
    assert fix["ai_drafted_script"].startswith("param(") and fix["ai_drafted_parameters"]["PrinterName"]["default"] == "Floor2"
    assert len(result["fact_ids"]) == 2 and result["defects"] == []

    anthropic_stub.enqueue("ok", text="Good to hear.", tools=[{"name": "propose_outcome", "input": {
        "outcome": "applied_pending", "reason": "Engineer: waiting on the user to reboot", "notes": "user reboot"}}])
    result = say(client, tenant, sid, "Applied it, waiting on the user to reboot")["result"]
    proposal = active_fix(client, tenant, sid)["ai_outcome_proposal"]
    assert proposal == result["outcome_proposal"] and proposal["outcome"] == "applied_pending"
    assert proposal["notes"] == "user reboot" and proposal["fix_id"] == fix["id"]
    # The transcript the model sees next carries the facts and the proposal in the live state.
    anthropic_stub.enqueue("ok", text="Noted.")
    say(client, tenant, sid, "Still waiting")
    state = anthropic_stub.requests[-1].body["messages"][-1]["content"][0]["text"]
    assert "14 jobs are stuck in the queue" in state and '"applied_pending"' in state


@pytest.mark.usefixtures("llm_worker")
def test_malformed_tool_payloads_never_lose_the_reply(client, tenant, anthropic_stub, engine, operator):
    sid = new_session(client, tenant)["id"]
    anthropic_stub.enqueue("ok", text="Here is what I think: restart the spooler.", tools=[
        {"name": "suggest_fix", "input": {"title": "Restart", "description": "d", "confidence_pct": "high"}},
        {"name": "record_facts", "raw": '{"facts": ["stuck jobs", '},
        {"name": "propose_outcome", "input": {"outcome": "applied_success", "reason": "it worked"}}])
    done = say(client, tenant, sid, "The queue has stuck jobs")
    result = done["result"]
    assert result["message"]["content"] == "Here is what I think: restart the spooler."
    assert result["suggested_fix_id"] is None and result["fact_ids"] == [] and result["outcome_proposal"] is None
    assert any("confidence_pct" in d for d in result["defects"])
    assert any(d.startswith("record_facts") for d in result["defects"])
    assert any("no active fix" in d for d in result["defects"])
    assert active_fix(client, tenant, sid) is None
    assert metric(client, operator, "flowpilot_assistant_defects_total", generator="anthropic") == 3

    anthropic_stub.enqueue("max_tokens", text="A long answer that gets cut", tools=[FIX_CALL])
    cut = say(client, tenant, sid, "go on")["result"]
    assert cut["message"]["content"] == "A long answer that gets cut" and cut["suggested_fix_id"] is None
    assert any("cut off" in d for d in cut["defects"])
    assert count_rows(engine, SessionMessage, SessionMessage.role == "assistant") == 2


def _fault_then_ok(client, tenant, stub, fault: dict, text: str) -> tuple[str, dict, dict]:
    """One reply whose first call meets `fault` and whose retry answers `text`: the job seen retrying, then done."""
    sid = new_session(client, tenant)["id"]
    stub.enqueue(fault["kind"], **fault["opts"])
    stub.enqueue("ok", text=text)
    job_id = post(client, tenant, sid, "Nobody can print").get_json()["job"]["id"]
    retrying = wait_job(client, tenant.h("engineer"), job_id, until=("retrying",))
    return sid, retrying, wait_job(client, tenant.h("engineer"), job_id)


@pytest.mark.usefixtures("llm_worker")
@pytest.mark.parametrize("fault", [{"kind": "overloaded", "opts": {}},
                                   {"kind": "ok", "opts": {"text": "Half a repl", "stream_error": "overloaded_error"}}],
                         ids=["529-before-the-stream", "overloaded-mid-stream"])
def test_overloaded_is_retried_with_backoff_and_one_message(client, tenant, anthropic_stub, engine, fault):
    sid, retrying, done = _fault_then_ok(client, tenant, anthropic_stub, fault, "The whole reply.")
    assert retrying["error"]["code"] == "llm_overloaded" and retrying["next_attempt_at"]
    assert done["status"] == "succeeded" and done["attempts"] == 2 and anthropic_stub.calls == 2
    assert done["result"]["message"]["content"] == "The whole reply."
    assert [m["role"] for m in transcript(client, tenant, sid)["items"]] == ["user", "assistant"]
    assert count_rows(engine, SessionMessage, SessionMessage.role == "assistant") == 1


@pytest.mark.usefixtures("fast_timeout_worker")
@pytest.mark.parametrize("fault", [{"kind": "slow", "opts": {"seconds": 2.5}, "says": "timed out"},
                                   {"kind": "ok", "opts": {"text": "Let me think about", "stall_s": 2.5}, "says": "stalled"}],
                         ids=["no-headers", "stalls-mid-stream"])
def test_timeouts_are_retried_without_a_duplicate_message(client, tenant, anthropic_stub, engine, fault):
    _sid, retrying, done = _fault_then_ok(client, tenant, anthropic_stub, fault, "Answer after the retry.")
    assert retrying["error"]["code"] == "llm_timeout" and fault["says"] in retrying["error"]["message"]
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["result"]["message"]["content"] == "Answer after the retry."
    assert count_rows(engine, SessionMessage, SessionMessage.role == "assistant") == 1


@pytest.mark.usefixtures("llm_worker")
def test_a_redelivered_reply_job_stores_nothing_twice(app, client, tenant, anthropic_stub, engine, database):
    """The reply committed but its completion was lost: the next attempt finds it and adds nothing."""
    sid = new_session(client, tenant)["id"]
    anthropic_stub.enqueue("ok", text="Only once.", tools=[FIX_CALL])
    done = say(client, tenant, sid, "Nobody can print")
    calls = anthropic_stub.calls
    conn = psycopg2.connect(database["owner"])  # the test plays the lost completion; the app never does this
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('app.system_scope', 'on', false)")
        cur.execute("UPDATE jobs SET status = 'retrying', result = NULL, finished_at = NULL, next_attempt_at = now() "
                    "WHERE id = %s", (done["id"],))
        assert cur.rowcount == 1
    conn.close()
    st = app.extensions["flowpilot"]
    st.dispatcher.send([JobRef(uuid.UUID(done["id"]), tenant.account_id, "assistant.reply", "interactive")])
    again = wait_job(client, tenant.h("engineer"), done["id"])
    assert again["status"] == "succeeded" and again["attempts"] == 2
    assert again["result"]["message_id"] == done["result"]["message_id"] and anthropic_stub.calls == calls
    assert count_rows(engine, SessionMessage, SessionMessage.role == "assistant") == 1
    assert again["result"]["suggested_fix_id"] == done["result"]["suggested_fix_id"]


@pytest.mark.usefixtures("llm_worker")
def test_tool_calls_filled_from_the_schemas_we_declare_are_accepted(client, tenant, anthropic_stub):
    """The stub fills each named call from the request's own input_schema: our schemas and our checks agree."""
    sid = new_session(client, tenant)["id"]
    anthropic_stub.enqueue("ok", text="On it.", tools=[{"name": "suggest_fix"}, {"name": "record_facts"}])
    result = say(client, tenant, sid, "Printing is broken")["result"]
    assert result["defects"] == [] and result["suggested_fix_id"] and len(result["fact_ids"]) == 1
    assert active_fix(client, tenant, sid)["title"] == "stub title text"


@pytest.mark.usefixtures("llm_worker")
def test_the_whole_text_shows_while_a_tool_call_is_still_streaming(client, tenant, anthropic_stub):
    text = "Wedged queue; fix below."  # two deltas 0.1 s apart: the second falls inside the throttle interval
    anthropic_stub.enqueue("ok", text=text, tools=[FIX_CALL], chunk_delay_s=0.1)
    sid = new_session(client, tenant)["id"]
    seen, done = watch(client, tenant.h("engineer"), post(client, tenant, sid, "help").get_json()["job"]["id"])
    running = [s["progress"]["partial"] for s in seen if s["status"] == "running" and s["progress"]]
    assert text in running, seen  # the last words are not held back until the message is stored
    assert done["status"] == "succeeded" and done["result"]["suggested_fix_id"]
