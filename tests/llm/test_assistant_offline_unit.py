"""The offline assistant's playbooks and outcome reading, turn by turn (no database: pure functions)."""
from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pytest

from shared.llm.assistant_offline import OfflineAssistant, read_outcome
from shared.llm.conversation import ActiveFix, AssistantReply, Conversation, Turn
from shared.llm.playbooks import PLAYBOOKS, choose

PROBLEMS = {
    "printer": "The printer on floor 2 won't print",
    "outlook": "Outlook keeps asking for a password",
    "vpn": "VPN drops every 10 minutes",
    "disk": "Low disk space warning: the C: drive is full",
    "lockout": "The user keeps getting locked out of her account",
    "mapped_drives": "Mapped drive S: is missing after login",
    "slow_pc": "The laptop is really slow since last week",
}


class Chat:
    """Plays the job's part: each reply's effects become the next turn's state, as the database would."""

    def __init__(self, problem: str) -> None:
        self.c = Conversation(session_id=uuid.uuid4(), state_version=1, session_status="active",
                              intake={"problem": problem}, psa_ticket_id=None, transcript=[])
        self.partials: list[str] = []

    def say(self, text: str) -> AssistantReply:
        c = replace(self.c, transcript=[*self.c.transcript, Turn("user", text)])
        out = OfflineAssistant().reply(c, self.partials.append)
        fix, tried = c.fix, list(c.tried)
        if out.fix is not None:
            fix = ActiveFix(id=uuid.uuid4(), title=out.fix.title, description=out.fix.description, status="proposed",
                            user_decision=None, applied_at=None, verified_at=None, partial_notes=None,
                            pending_reason=None, failure_reason=None, script=out.fix.script,
                            script_language=out.fix.script_language)
            tried.append({"title": fix.title, "status": "proposed"})
        self.c = replace(c, transcript=[*c.transcript, Turn("assistant", out.text)], facts=[*c.facts, *out.facts],
                         fix=fix, tried=tried)
        return out

    def record(self, status: str) -> None:
        """The engineer confirms an outcome (PATCH …/outcome)."""
        assert self.c.fix is not None
        self.c = replace(self.c, fix=replace(self.c.fix, status=status),
                         tried=[*self.c.tried[:-1], {"title": self.c.fix.title, "status": status}])


@pytest.mark.parametrize("key", list(PROBLEMS))
def test_every_playbook_gathers_evidence_then_proposes_a_powershell_fix(key):
    playbook = next(p for p in PLAYBOOKS if p.key == key)
    chat = Chat(PROBLEMS[key])
    answers = ["It started this morning", "Yes, exactly as you describe", "Checked: the second thing",
               "Everything else looks normal"]
    replies = [chat.say(a) for a in answers]
    for i, question in enumerate(playbook.questions):  # one question per turn, in order
        assert question.text in replies[i].text and replies[i].fix is None
    assert replies[0].facts == []
    assert [r.facts for r in replies[1:]] == [[f"{q.label}: {a}"] for q, a in zip(playbook.questions, answers[1:], strict=True)]
    fix = replies[3].fix
    assert fix is not None and fix.title == playbook.fixes[0].title and fix.script_language == "powershell"
    assert fix.script and fix.script.startswith("param(") and 30 <= fix.confidence_pct <= 95
    for name in fix.parameters or {}:  # every listed parameter is a param() of the script
        assert re.search(rf"\${name}\b", fix.script), (name, fix.script)
    assert chat.partials[-1] == replies[-1].text  # the text was handed over as it "streamed"


@pytest.mark.parametrize("key", list(PROBLEMS))
def test_a_failed_fix_leads_to_the_next_one_then_to_saying_it_does_not_know(key):
    playbook = next(p for p in PLAYBOOKS if p.key == key)
    chat = Chat(PROBLEMS[key])
    for answer in ("a", "b", "c", "d"):
        chat.say(answer)
    failed = chat.say("Ran it, didn't work, same error as before.")
    assert failed.outcome is not None and failed.outcome.outcome == "applied_failed" and failed.fix is None
    chat.record("applied_failed")
    second = chat.say("What next?")
    assert second.fix is not None and second.fix.title == playbook.fixes[1].title
    again = chat.say("Still failing.").outcome
    assert again is not None and again.outcome == "applied_failed"
    chat.record("applied_failed")
    out = chat.say("Anything else?")
    assert out.fix is None and out.text.startswith("I don't know what else to try")


def test_pending_then_success_and_a_reminder_in_between():
    chat = Chat(PROBLEMS["vpn"])
    for answer in ("a", "b", "c", "d"):
        chat.say(answer)
    pending = chat.say("Applied it, waiting on the user to test from home tonight.")
    assert pending.outcome is not None and pending.outcome.outcome == "applied_pending"
    assert pending.outcome.notes == "the user to test from home tonight"
    chat.record("applied_pending")
    reminder = chat.say("Hi again")
    assert reminder.fix is None and reminder.outcome is None and "Let me know how" in reminder.text
    worked = chat.say("The user says that worked, no drops all evening")
    assert worked.outcome is not None and worked.outcome.outcome == "applied_success"
    chat.record("applied_success")
    assert "looks resolved" in chat.say("thanks").text


def test_an_unknown_problem_is_said_plainly():
    out = Chat("The coffee machine shows E-47").say("It started after the firmware update")
    assert out.text.startswith("I don't know this problem") and out.fix is None and not out.facts


def test_the_playbook_sticks_to_the_first_matching_text():
    assert [getattr(choose(texts), "key", None) for texts in (
        ["Printer offline", "now Outlook asks for a password too"], ["", "VPN keeps dropping"], ["The coffee machine"],
    )] == ["printer", "vpn", None]


@pytest.mark.parametrize(("text", "expected"), [
    ("That worked, thanks!", ("applied_success", None)),
    ("It works now", ("applied_success", None)),
    ("That fixed it", ("applied_success", None)),
    ("Didn't work, same error", "applied_failed"),
    ("Still failing after the reboot", "applied_failed"),
    ("Nope, no change", "applied_failed"),
    ("It's not resolved", "applied_failed"),
    ("Partly: most users can print but Bob still can't", "applied_partial"),
    ("It helped for some users", "applied_partial"),
    ("Better but still slow at startup", "applied_partial"),
    ("Applied, waiting on AD replication", ("applied_pending", "AD replication")),
    ("Can't verify it until the user is back", "applied_pending"),
    ("I haven't run it yet", None),
    ("What else can I try?", None),
])
def test_outcome_phrases(text, expected):
    got = read_outcome(text)
    if expected is None or isinstance(expected, tuple):
        assert got == expected
    else:
        assert got is not None and got[0] == expected and got[1]
