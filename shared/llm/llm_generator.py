"""The LLM-backed generator: prompts carry the outcome rules; our code renders the returned sections."""
from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import PermanentError
from shared.llm.assistant_llm import ConversationClient, LlmAssistant
from shared.llm.bundle import PreviewBundle
from shared.llm.conversation import AssistantReply, Conversation, TextSink
from shared.llm.generator import Draft
from shared.llm.next_node import NEXT_NODE_SCHEMA, NextNodeContext, normalize_node
from shared.llm.outcome_rules import SYSTEM_RULES
from shared.llm.sections import SECTIONS, PreviewKind, json_schema, render
from shared.llm.structured import STRING, StructuredClient, StructuredResult, array_of, strict_object
from shared.llm.template_heuristics import TemplateProposal

MAX_TOKENS = {"resolution_note": 1500, "escalation_package": 2500, "template": 3000}
_TASK = {
    "resolution_note": "Write the customer-facing resolution note for this ticket.",
    "escalation_package": "Write the internal escalation package for the next engineer.",
}
TEMPLATE_SCHEMA = strict_object(
    templated_body=STRING,
    parameters=array_of(strict_object(name=STRING, kind=STRING, description=STRING, default=STRING)),
)
_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
NEXT_NODE_SYSTEM = (
    "You help a first-line (L1) helpdesk technician troubleshoot a customer's problem one question at a time. "
    "Propose the single next question the technician should ask or check, with 2-6 short answers. Each answer "
    "leads_to 'next' (ask another question), 'resolve' (this answer means the problem is fixed) or 'escalate' "
    "(beyond L1: needs an engineer). Never repeat a question already asked. Safe, non-destructive steps only."
)


def draft_prompt(kind: PreviewKind, bundle: PreviewBundle) -> str:
    """The user turn of a draft request: the task, the fields, the session's bundle."""
    fields = ", ".join(f"{key} ({heading})" for key, heading in SECTIONS[kind])
    return (f"{_TASK[kind]}\nFill these fields: {fields}.\n\nSession data (JSON):\n"
            + json.dumps(bundle.as_prompt_dict(), default=str, indent=1))


class LlmGenerator:
    def __init__(self, client: StructuredClient, name: str = "anthropic", *,
                 conversation: ConversationClient | None = None) -> None:
        self.client = client
        self.name = name
        self.assistant = LlmAssistant(conversation, name) if conversation is not None else None

    def reply(self, conversation: Conversation, on_text: TextSink) -> AssistantReply:
        if self.assistant is None:
            raise PermanentError("assistant_unavailable", "this generator has no streaming client for the assistant")
        return self.assistant.reply(conversation, on_text)

    def draft(self, kind: PreviewKind, bundle: PreviewBundle) -> Draft:
        user = draft_prompt(kind, bundle)
        result = self.client.call(system=SYSTEM_RULES, user=user, schema=json_schema(kind), max_tokens=MAX_TOKENS[kind])
        return self.draft_from(kind, result)

    def draft_from(self, kind: PreviewKind, result: StructuredResult) -> Draft:
        """The draft a model's answer makes (a per-call answer or one result of a provider batch)."""
        sections = {key: str(result.data.get(key, "")) for key, _ in SECTIONS[kind]}
        return Draft(
            kind=kind,
            sections=sections,
            markdown=render(kind, sections),
            generator=self.name,
            model=result.model,
            usage=dict(result.usage),
        )

    def extract_template(self, script: str, facts: list[str]) -> TemplateProposal:
        user = (
            "Turn this one-off script into a reusable template. Replace session-specific values (host names, "
            "IP addresses, user names, paths, GUIDs) with {{parameter_name}} placeholders (snake_case) and "
            "list each parameter with its original value as default.\n\nSession facts:\n"
            + "\n".join(f"- {f}" for f in facts)
            + f"\n\nScript:\n```\n{script}\n```"
        )
        result = self.client.call(system="You are a careful scripting assistant.", user=user,
                                  schema=TEMPLATE_SCHEMA, max_tokens=MAX_TOKENS["template"])
        params = [p for p in result.data.get("parameters", []) if isinstance(p, dict)]
        body = result.data.get("templated_body")
        if not isinstance(body, str) or not body.strip():
            raise PermanentError("llm_invalid_output", "the model returned no templated body")
        clean = []
        for p in params:
            name = str(p.get("name", ""))
            if not _PARAM_NAME.match(name):
                continue
            clean.append({"name": name, "kind": str(p.get("kind", "value")),
                          "description": str(p.get("description", ""))[:500], "default": str(p.get("default", ""))})
        return TemplateProposal(templated_body=body, parameters=clean)

    def next_node(self, context: NextNodeContext) -> dict[str, Any]:
        user = "The walk so far (JSON):\n" + json.dumps(context.as_prompt_dict(), indent=1)
        result = self.client.call(system=NEXT_NODE_SYSTEM, user=user, schema=NEXT_NODE_SCHEMA, max_tokens=800)
        try:
            node = normalize_node(result.data)
        except ValueError as exc:
            raise PermanentError("llm_invalid_output", str(exc)) from None
        return {**node, "model": result.model, "usage": dict(result.usage)}
