"""The assistant over an LLM: a streamed turn whose tool calls become proposed effects.

Why tools rather than structured output: the reply is prose the engineer watches grow, so it streams as
plain text deltas; fixes, facts and outcomes are typed tool calls beside it (`tool_choice: auto`), read
once the turn ends. Tools are never executed and no tool_result goes back: a call is only a proposal our
code validates and the job stores. Structured output would put the prose inside JSON, to be dug out of
partial JSON while it streams.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from shared.llm.anthropic_stream import StreamedTurn
from shared.llm.assistant_prompt import MAX_TOKENS, TOOLS, build_request
from shared.llm.conversation import (
    AssistantReply,
    Conversation,
    TextSink,
    clean_facts,
    clean_fix,
    clean_outcome,
    storable,
)

log = logging.getLogger(__name__)


class ConversationClient(Protocol):
    def stream(self, *, system: list[dict[str, Any]], messages: list[dict[str, Any]], tools: list[dict[str, Any]],
               max_tokens: int, on_text: Callable[[str], None]) -> StreamedTurn: ...


def reply_from_turn(turn: StreamedTurn, generator: str) -> AssistantReply:
    """Validate each tool call; keep what is sound, name what is not. The text always survives."""
    reply = AssistantReply(text=storable(turn.text).strip(), generator=generator, model=turn.model or None,
                           usage=dict(turn.usage), defects=list(turn.defects))
    for call in turn.tool_calls:
        if call.name == "suggest_fix":
            fix, defect = clean_fix(call.input)
            if fix is not None and reply.fix is not None:
                defect, fix = "suggest_fix: more than one suggestion in a turn (kept the first)", None
            reply.fix = reply.fix or fix
        elif call.name == "record_facts":
            facts, defect = clean_facts(call.input)
            reply.facts.extend(f for f in facts if f not in reply.facts)
        elif call.name == "propose_outcome":
            outcome, defect = clean_outcome(call.input)
            reply.outcome = reply.outcome or outcome
        else:
            defect = f"unknown tool {call.name[:60]!r}"
        if defect:
            reply.defects.append(defect)
    if not reply.text:
        reply.text = _effects_summary(reply)
    return reply


def _effects_summary(reply: AssistantReply) -> str:
    """A model may answer with tool calls alone; the transcript still gets a readable message."""
    parts = []
    if reply.fix is not None:
        parts.append(f'I\'ve suggested a fix: "{reply.fix.title}".')
    if reply.facts:
        parts.append("I've recorded: " + "; ".join(reply.facts) + ".")
    if reply.outcome is not None:
        parts.append(f"I've proposed the outcome {reply.outcome.outcome} for the active fix; please confirm it.")
    return " ".join(parts) or "I couldn't produce an answer this time. Please rephrase or add detail."


class LlmAssistant:
    def __init__(self, client: ConversationClient, name: str = "anthropic") -> None:
        self.client = client
        self.name = name

    def reply(self, conversation: Conversation, on_text: TextSink) -> AssistantReply:
        system, messages = build_request(conversation)
        turn = self.client.stream(system=system, messages=messages, tools=TOOLS, max_tokens=MAX_TOKENS,
                                  on_text=on_text)
        return reply_from_turn(turn, self.name)
