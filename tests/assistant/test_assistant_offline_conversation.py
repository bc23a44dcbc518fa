"""A whole troubleshooting conversation with the offline assistant, through the real worker.

Evidence questions one at a time (each answer recorded as a fact, source `assistant`), a fix with a
PowerShell script once the evidence is in, an outcome read from "still failing" and proposed (never
applied), confirmed by the engineer (which clears the proposal), then the next fix superseding the first.
"""
from __future__ import annotations

from sqlalchemy import select

from db.engine import SYSTEM, transaction
from db.models import SessionFact, SessionMessage, SessionSuggestedFix
from tests.assistant.chat import active_fix, new_session, say, session_of, transcript
from tests.helpers import count_rows
from tests.previews.test_preview_pipeline import generate


def _assistant_facts(engine, session_id: str) -> list[SessionFact]:
    with transaction(engine, SYSTEM) as db:
        return list(db.execute(select(SessionFact).where(SessionFact.session_id == session_id,
                                                         SessionFact.source == "assistant")
                               .order_by(SessionFact.created_at)).scalars())


def test_multi_turn_conversation_to_a_superseding_fix(client, tenant, worker, engine):
    s = new_session(client, tenant)
    sid = s["id"]

    first = say(client, tenant, sid, "Nobody on floor 2 can print since this morning.")
    reply = first["result"]["message"]
    assert reply["role"] == "assistant" and reply["generator"] == "offline"
    assert "one user or everyone" in reply["content"]  # the printer playbook's first evidence question
    assert first["result"]["fact_ids"] == [] and first["result"]["suggested_fix_id"] is None
    assert first["progress"] is None  # the partial text is replaced by the stored message
    assert session_of(client, tenant, sid)["state_version"] == s["state_version"]  # no effect, no bump

    second = say(client, tenant, sid, "Everyone on the floor; the printer's display says Ready.")
    assert len(second["result"]["fact_ids"]) == 1 and "Get-Service Spooler" in second["result"]["message"]["content"]
    say(client, tenant, sid, "The spooler is running but 14 jobs are stuck in the queue.")
    version_before = session_of(client, tenant, sid)["state_version"]

    fourth = say(client, tenant, sid, "Yes, it answers the ping.")
    result = fourth["result"]
    assert len(result["fact_ids"]) == 1 and result["suggested_fix_id"]
    # A fact and a fix in one reply: one transaction, one bump.
    assert result["state_version"] == version_before + 1 == session_of(client, tenant, sid)["state_version"]
    fix = active_fix(client, tenant, sid)
    assert fix["id"] == result["suggested_fix_id"] and fix["title"].startswith("Restart the print spooler")
    assert fix["script_language"] == "powershell" and "Restart-Service" not in fix["ai_drafted_script"]
    assert "Stop-Service -Name Spooler" in fix["ai_drafted_script"] and "PrinterName" in fix["ai_drafted_parameters"]
    assert fix["status"] == "proposed" and fix["ai_outcome_proposal"] is None
    facts = _assistant_facts(engine, sid)
    assert [f.text.split(":")[0] for f in facts] == ["Scope", "Spooler and queue", "Network reachability"]
    assert facts[1].text == "Spooler and queue: The spooler is running but 14 jobs are stuck in the queue."
    assert all(f.created_by is None and f.deleted_at is None for f in facts)

    fifth = say(client, tenant, sid, "Ran the script, still failing: the jobs are stuck again.")
    proposal = fifth["result"]["outcome_proposal"]
    assert proposal["outcome"] == "applied_failed" and proposal["fix_id"] == fix["id"]
    assert "still failing" in proposal["reason"] and proposal["proposed_at"] and proposal["notes"]
    fix_now = active_fix(client, tenant, sid)
    assert fix_now["ai_outcome_proposal"] == proposal and fix_now["status"] == "proposed"  # never applied by itself

    confirm = client.patch(f"/api/v1/ai-sessions/{sid}/suggested-fixes/{fix['id']}/outcome",
                           json={"outcome": proposal["outcome"], "notes": proposal["notes"]}, headers=tenant.h("engineer"))
    assert confirm.status_code == 200, confirm.get_json()
    assert confirm.get_json()["status"] == "applied_failed" and confirm.get_json()["ai_outcome_proposal"] is None

    sixth = say(client, tenant, sid, "OK, what next?")
    second_fix = active_fix(client, tenant, sid)
    assert second_fix["id"] == sixth["result"]["suggested_fix_id"] != fix["id"]
    assert second_fix["title"] == "Re-create the printer's TCP/IP port and queue"
    with transaction(engine, SYSTEM) as db:  # the first fix is superseded, keeping its recorded outcome
        first_fix = db.get(SessionSuggestedFix, fix["id"])
        assert first_fix is not None and first_fix.superseded_at is not None and first_fix.status == "applied_failed"

    items = transcript(client, tenant, sid)["items"]
    assert [m["role"] for m in items] == ["user", "assistant"] * 6
    assert [m["content"] for m in items[::2]][-1] == "OK, what next?"
    assert items[7]["suggested_fix_id"] == fix["id"] and items[9]["outcome_proposal"] == proposal
    assert all(m["job_id"] for m in items)
    assert count_rows(engine, SessionMessage, SessionMessage.session_id == sid) == 12

    # The previews are written from the state the conversation built: facts, and the failed fix superseded.
    package = generate(client, tenant, s, "escalation-package")["markdown"]
    assert "14 jobs are stuck" in package and "Re-create the printer's TCP/IP port" in package


def test_transcript_pages_oldest_first_with_after(client, tenant, worker):
    sid = new_session(client, tenant)["id"]
    for text in ("Printing fails for everyone", "Everyone, the display shows Ready", "Spooler stopped"):
        say(client, tenant, sid, text)
    page1 = transcript(client, tenant, sid, limit=4)
    assert len(page1["items"]) == 4 and page1["next_cursor"] == page1["items"][-1]["id"]
    page2 = transcript(client, tenant, sid, limit=4, after=page1["next_cursor"])
    assert [m["role"] for m in page2["items"]] == ["user", "assistant"] and page2["next_cursor"] is None
    everything = [m["id"] for m in transcript(client, tenant, sid)["items"]]
    assert [m["id"] for m in page1["items"] + page2["items"]] == everything
    assert transcript(client, tenant, sid, after=everything[-1]) == {"items": [], "next_cursor": None}


def test_unknown_problem_says_so_plainly(client, tenant, worker):
    sid = new_session(client, tenant, problem="The coffee machine shows error E-47")["id"]
    done = say(client, tenant, sid, "It started after the firmware update")
    text = done["result"]["message"]["content"]
    assert text.startswith("I don't know this problem from my playbooks")
    assert done["result"]["suggested_fix_id"] is None and done["result"]["fact_ids"] == []
