"""The offline assistant: deterministic playbooks, no network. `make run` is a usable demo with it.

Stateless by design: every turn is derived from the snapshot alone (transcript, active fix, the fixes
tried so far), so a retried job writes the same reply. A turn either reads an outcome the engineer
reports for the open fix, or asks the playbook's next evidence question (recording the answer to the
previous one as a fact), or proposes the playbook's next fix once the evidence is in. When no playbook
fits, or every fix it knows has failed, it says so plainly instead of guessing.
"""
from __future__ import annotations

import re

from shared.llm.conversation import AssistantReply, Conversation, FixProposal, OutcomeProposal, TextSink
from shared.llm.playbooks import PLAYBOOKS, Playbook, PlaybookFix, Question, choose
from shared.sessions.fixes import OPEN_STATUSES

# Checked in this order: "didn't work" must never read as "worked", "partly worked" never as success.
_PENDING = re.compile(
    r"\b(?:waiting (?:on|for)|wait(?:ing)? until|pending|can'?t (?:verify|confirm|tell|test)(?: it)? (?:yet|until)|"
    r"not (?:verified|confirmed) yet|will (?:check|confirm|verify|test|know)|needs? (?:a|to) (?:reboot|restart))\b",
    re.I)
_PARTIAL = re.compile(
    r"\b(?:partly|partially|part of it|for some|only (?:for|on|some)|better but|mostly|not completely|"
    r"not fully|improved but|some (?:of|but))\b", re.I)
_FAILED = re.compile(
    r"\b(?:didn'?t work|did not work|doesn'?t work|does not work|not working|no (?:change|luck|difference|"
    r"improvement)|same (?:error|problem|issue)|still (?:fail\w*|broken|not|the same|happen\w*|drop\w*|crash\w*|"
    r"slow|lock\w*|ask\w*|prompt\w*|get\w*|see\w*|can'?t|won'?t|no)|failed|not (?:fixed|resolved|solved)|"
    r"didn'?t help|did not help)\b", re.I)
_SUCCESS = re.compile(
    r"\b(?:worked|works now|working now|working again|fixed|resolved|solved|all good|sorted|success\w*|"
    r"back to normal|problem (?:is )?gone)\b", re.I)
_WAIT_ON = re.compile(r"\bwaiting (?:on|for) ([^.!?\n]{3,200})", re.I)
_MORE = re.compile(r"\b(?:what (?:next|else)|anything else|next step|something else|another (?:idea|fix|option)|"
                   r"try next)\b", re.I)

OUTCOME_WORDS = {
    "applied_success": "worked",
    "applied_failed": "did not work",
    "applied_partial": "partly worked",
    "applied_pending": "is applied and waiting on verification",
}


def read_outcome(text: str) -> tuple[str, str | None] | None:
    """The outcome an engineer's message reports, with notes (what remains, what we wait on), or None."""
    quote = " ".join(text.split())[:300]
    if _PENDING.search(text):
        wait = _WAIT_ON.search(text)
        return "applied_pending", (wait.group(1).strip() if wait else quote)
    if _PARTIAL.search(text):
        return "applied_partial", quote
    if _FAILED.search(text):
        return "applied_failed", quote
    if _SUCCESS.search(text):
        return "applied_success", None
    return None


def _fix_proposal(fix: PlaybookFix, evidence: int) -> FixProposal:
    confidence = max(30, min(95, fix.confidence_pct + 5 * (evidence - 2)))
    return FixProposal(fix.title, fix.description, confidence, fix.script, "powershell", dict(fix.parameters))


class OfflineAssistant:
    name = "offline"

    def reply(self, conversation: Conversation, on_text: TextSink) -> AssistantReply:
        out = self._turn(conversation)
        # No network, so no real stream: hand the text over sentence by sentence like a model would.
        shown = ""
        for piece in re.split(r"(?<=[.!?:])\s+", out.text):
            shown = f"{shown} {piece}".strip()
            on_text(shown)
        return out

    def _turn(self, c: Conversation) -> AssistantReply:
        latest = c.latest
        fix = c.fix
        reported = read_outcome(latest) if fix is not None and fix.status in OPEN_STATUSES else None
        if fix is not None and reported is not None:
            outcome, notes = reported
            return self._outcome_reply(c, outcome, notes)
        texts = [c.problem, *(t.content for t in c.transcript if t.role == "user")]
        playbook = choose([t for t in texts if t])
        if playbook is None:
            return AssistantReply(_unknown(latest), self.name)
        asked, answered_last = _evidence(c, playbook)
        facts = [f"{answered_last.label}: {_excerpt(latest)}"] if answered_last is not None else []
        facts = [f for f in facts if f.lower() not in {x.lower() for x in c.facts}]
        pending = [q for q in playbook.questions if q.text not in asked]
        if pending:
            opener = (f"Let's work through {playbook.name}. I'll ask for evidence one step at a time. "
                      if not asked else "Thanks, noted. ")
            return AssistantReply(f"{opener}{pending[0].text}", self.name, facts=facts)
        return self._next_fix(c, playbook, facts, latest)

    def _outcome_reply(self, c: Conversation, outcome: str, notes: str | None) -> AssistantReply:
        assert c.fix is not None
        quote = " ".join(c.latest.split())[:300]
        proposal = OutcomeProposal(outcome, f'The engineer reported: "{quote}"', notes)
        text = (f"It sounds like \"{c.fix.title}\" {OUTCOME_WORDS[outcome]}. I've proposed recording that "
                "outcome on the fix; confirm it (or correct it) on the fix card, I won't apply it myself.")
        if outcome == "applied_failed":
            text += " Once it's recorded, ask me for the next step and I'll suggest another approach."
        elif outcome == "applied_partial":
            text += " Tell me what still fails and we'll go after the rest."
        elif outcome == "applied_pending":
            text += " When the wait is over, tell me whether it worked."
        else:
            text += " You can then preview the resolution note."
        return AssistantReply(text, self.name, outcome=proposal)

    def _next_fix(self, c: Conversation, playbook: Playbook, facts: list[str], latest: str) -> AssistantReply:
        tried = {t["title"]: t["status"] for t in c.tried}
        fix = c.fix
        if fix is not None and fix.status == "applied_success":
            return AssistantReply(f"\"{fix.title}\" is recorded as working, so this looks resolved. Preview the "
                                  "resolution note when you're ready to close the ticket.", self.name, facts=facts)
        if fix is not None and fix.status in OPEN_STATUSES and tried.get(fix.title) is not None and not _MORE.search(latest):
            return AssistantReply(f"Let me know how \"{fix.title}\" goes: tell me it worked, it's still failing, "
                                  "it partly worked, or what you're waiting on.", self.name, facts=facts)
        candidate = next((f for f in playbook.fixes if f.title not in tried), None)
        if candidate is None:
            return AssistantReply(
                f"I don't know what else to try: my playbook for {playbook.name} has no further fix, and I'd "
                "rather say so than guess. I suggest requesting an escalation; the escalation package will list "
                "what we confirmed and tried.", self.name, facts=facts)
        evidence = len(c.facts) + len(facts)
        first = not any(f.title in tried for f in playbook.fixes)
        lead = (f"Based on the evidence, the most likely cause is {playbook.diagnosis}. " if first
                else "Since the previous fix didn't settle it, here is the next approach. ")
        text = (f"{lead}I've suggested a fix: \"{candidate.title}\". {candidate.description} It comes with a "
                "PowerShell script (see the fix card). Run it, then tell me how it went.")
        return AssistantReply(text, self.name, fix=_fix_proposal(candidate, evidence), facts=facts)


def _evidence(c: Conversation, playbook: Playbook) -> tuple[set[str], Question | None]:
    """Which of the playbook's questions were asked, and the one the latest message answers (if any)."""
    asked: set[str] = set()
    last_question: Question | None = None
    for turn in c.transcript[:-1]:
        if turn.role != "assistant":
            continue
        last_question = None
        for q in playbook.questions:
            if q.text in turn.content:
                asked.add(q.text)
                last_question = q
    previous = c.transcript[-2] if len(c.transcript) >= 2 else None
    answered = last_question if previous is not None and previous.role == "assistant" else None
    return asked, answered


def _excerpt(text: str) -> str:
    return " ".join(text.split())[:300]


def _unknown(latest: str) -> str:
    topics = ", ".join(pb.name for pb in PLAYBOOKS)
    return ("I don't know this problem from my playbooks, and I'd rather say so than guess. "
            f"I can walk you through {topics}. Tell me the exact error message, what changed recently and who is "
            "affected, or describe it in those terms." if latest else "What is the problem you're seeing?")
