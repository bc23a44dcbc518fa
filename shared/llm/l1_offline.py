"""L1 AI build, offline: deterministic question banks per problem family (no network), walked in order."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.l1.text import terms
from shared.llm.next_node import NextNodeContext

_Q = tuple[str, tuple[tuple[str, str], ...]]


def _question(raw: list[Any]) -> _Q:
    return raw[0], tuple((label, leads_to) for label, leads_to in raw[1])


_DATA = json.loads((Path(__file__).parent / "l1_question_banks.json").read_text(encoding="utf-8"))
_BANKS: dict[str, tuple[_Q, ...]] = {name: tuple(map(_question, qs)) for name, qs in _DATA["banks"].items()}
_FINAL: _Q = _question(_DATA["final"])
_FAMILY_TERMS = {
    "network": {"network", "wifi", "wi", "vpn", "internet", "connect", "dns", "ethernet", "rout", "offlin"},
    "email": {"email", "mail", "outlook", "exchang", "mailbox", "inbox", "calendar"},
    "printing": {"print", "scan", "spool", "copi"},
    "account": {"account", "password", "login", "log", "sign", "mfa", "lock", "credential", "passwd"},
    "hardware": {"monitor", "keyboard", "mous", "laptop", "dock", "screen", "hardwar", "headset", "battery"},
}


def family(category: str, problem: str) -> str:
    """The question bank for a category (by its name first, then by the problem's words)."""
    for text in (category.replace("-", " ").replace("_", " "), problem):
        found = set(terms(text))
        for name, vocabulary in _FAMILY_TERMS.items():
            if found & vocabulary:
                return name
    return "general"


def offline_next_node(context: NextNodeContext) -> dict[str, Any]:
    """The next unasked question of the category's bank, then a closing resolve-or-escalate question."""
    asked = {entry.get("question") for entry in context.path}
    bank = (*_BANKS[family(context.category, context.problem)], _FINAL)
    question, answers = next((q for q in bank if q[0] not in asked), _FINAL)
    return {"question": question, "answers": [{"label": label, "leads_to": to} for label, to in answers]}
