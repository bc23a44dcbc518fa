"""The assistant's request: system prompt, tools, and a message list laid out for prompt caching.

Layout, most stable first, so each cache breakpoint covers a prefix that recurs:
  tools + system rules           [breakpoint 1: the same for every session of every tenant]
  the session (intake, L1 walk)  [breakpoint 2: the same for the whole session]
  the transcript so far          [breakpoint 3 on its last message: the next turn reads it back]
  the live state + new message   (changes every turn, never cached)
The live state (facts, the active fix and its outcome) rides in the final user message rather than the
system prompt, so a recorded fact does not invalidate the cached conversation before it. The history is
windowed in steps of HISTORY_STEP turns, so the window's start (and the cached prefix) moves rarely.
"""
from __future__ import annotations

import json
from typing import Any

from shared.llm.conversation import MAX_FACTS_PER_TURN, Conversation, Turn
from shared.sessions.fixes import APPLIED_OUTCOMES, SCRIPT_LANGUAGES

MAX_TOKENS = 1500
HISTORY_TURNS = 40
HISTORY_STEP = 20
CACHE = {"type": "ephemeral"}

SYSTEM_PROMPT = """You are FlowPilot's troubleshooting assistant. You work beside an engineer at a managed-service
provider on one customer ticket, in a chat. The engineer runs the checks and applies fixes; you reason about
the evidence and propose next steps.

How you work:
- Ask for evidence before proposing a fix: one or two concrete checks at a time (a command to run, a setting
  to read, a question to ask the user). Never ask again for something already answered or recorded.
- Propose a fix only when the evidence supports it: call suggest_fix with a short title, what it does and why,
  your confidence (0-100) and, when a script helps, a script (PowerShell unless another language fits better)
  whose values are param() defaults listed in script_parameters. A new suggestion replaces the active fix.
  Read-only checks first; anything destructive is stated plainly in the description.
- When the engineer confirms an observation or a test result, call record_facts with short, self-contained
  statements of what the engineer said or showed. Never record your own guesses; never repeat a recorded fact.
- When the engineer reports how the active fix went, call propose_outcome: applied_success (it worked),
  applied_failed (it did not), applied_partial (it helped only partly; notes say what still fails) or
  applied_pending (applied, but verification waits on something; notes say on what). It is a proposal: the
  engineer confirms it. Never claim an outcome is recorded.
- If you do not know, say so plainly and say what evidence would settle it, or suggest escalating. Never
  invent facts, ticket details, command output or names.
Always write the reply itself as plain text for the engineer (short: what you think, what to check next);
tools only record effects beside it."""

TOOLS: list[dict[str, Any]] = [
    {
        "name": "suggest_fix",
        "description": "Propose a fix for the problem (it replaces the session's active suggested fix).",
        "input_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 200, "description": "Short imperative title"},
                "description": {"type": "string", "description": "What the fix does and why it should work"},
                "confidence_pct": {"type": "integer", "minimum": 0, "maximum": 100},
                "script": {"type": "string", "description": "Optional script that applies the fix"},
                "script_language": {"type": "string", "enum": list(SCRIPT_LANGUAGES)},
                "script_parameters": {
                    "type": "object",
                    "description": "The script's parameters by name",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"description": {"type": "string"}, "default": {"type": "string"}},
                    },
                },
            },
            "required": ["title", "description", "confidence_pct"],
        },
    },
    {
        "name": "record_facts",
        "description": "Record facts the engineer confirmed in this conversation.",
        "input_schema": {
            "type": "object",
            "properties": {
                "facts": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                          "maxItems": MAX_FACTS_PER_TURN},
            },
            "required": ["facts"],
        },
    },
    {
        "name": "propose_outcome",
        "description": "Propose the outcome of the active fix from what the engineer reported.",
        "input_schema": {
            "type": "object",
            "properties": {
                "outcome": {"type": "string", "enum": list(APPLIED_OUTCOMES)},
                "notes": {"type": "string", "description": "What still fails (partial) or what we wait on (pending)"},
                "reason": {"type": "string", "description": "What the engineer said that shows this outcome"},
            },
            "required": ["outcome", "reason"],
        },
    },
]


def _session_block(c: Conversation) -> str:
    session = {"intake": c.intake, "psa_ticket_id": c.psa_ticket_id}
    if c.l1_walk:
        session["escalated_l1_walk"] = c.l1_walk
    return "The session (as opened):\n" + json.dumps(session, default=str, indent=1)


def _window(transcript: list[Turn]) -> list[Turn]:
    excess = len(transcript) - HISTORY_TURNS
    start = 0 if excess <= 0 else (excess // HISTORY_STEP + 1) * HISTORY_STEP
    window = transcript[start:]
    while window and window[0].role != "user":
        window = window[1:]
    return window


def _merged(turns: list[Turn]) -> list[tuple[str, str]]:
    """Consecutive turns of one role become one message (a message whose reply failed, then another)."""
    out: list[tuple[str, str]] = []
    for t in turns:
        if out and out[-1][0] == t.role:
            out[-1] = (t.role, f"{out[-1][1]}\n\n{t.content}")
        else:
            out.append((t.role, t.content))
    return out


def build_request(c: Conversation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages) for one turn; the last message is the engineer's, with the live state."""
    system = [
        {"type": "text", "text": SYSTEM_PROMPT, "cache_control": CACHE},
        {"type": "text", "text": _session_block(c), "cache_control": CACHE},
    ]
    turns = _merged(_window(c.transcript)) or [("user", c.latest)]
    history, (_, current) = turns[:-1], turns[-1]
    messages: list[dict[str, Any]] = [{"role": role, "content": text} for role, text in history]
    if messages:
        messages[-1]["content"] = [{"type": "text", "text": history[-1][1], "cache_control": CACHE}]
    state = json.dumps(c.state_dict(), default=str, indent=1)
    messages.append({"role": "user", "content": [
        {"type": "text", "text": f"Current session state (JSON):\n{state}\n\nThe engineer writes:\n{current}"}]})
    return system, messages
