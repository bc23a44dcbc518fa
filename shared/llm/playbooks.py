"""Deterministic troubleshooting playbooks for the offline assistant (common MSP problems), from playbooks.json.

Each playbook asks for evidence one question at a time, then proposes a primary fix with a PowerShell
script, and a fallback fix if the primary one fails. Scripts take their values as `param()` defaults,
so the one-off script the engineer renders runs as-is, and the same names are listed as parameters.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Question:
    label: str  # how the answer is recorded as a fact: "<label>: <answer>"
    text: str


@dataclass(frozen=True)
class PlaybookFix:
    title: str
    description: str
    confidence_pct: int
    script: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Playbook:
    key: str
    name: str
    keywords: tuple[str, ...]
    diagnosis: str
    questions: tuple[Question, ...]
    fixes: tuple[PlaybookFix, ...]

    def score(self, text: str) -> int:
        lowered = text.lower()
        return sum(1 for kw in self.keywords if re.search(r"(?<![a-z0-9])" + re.escape(kw) + r"(?![a-z0-9])", lowered))


def _fix(raw: dict[str, Any]) -> PlaybookFix:
    return PlaybookFix(raw["title"], raw["description"], raw["confidence_pct"], "\n".join(raw["script"]),
                       raw["parameters"])


def _playbook(raw: dict[str, Any]) -> Playbook:
    return Playbook(key=raw["key"], name=raw["name"], keywords=tuple(raw["keywords"]), diagnosis=raw["diagnosis"],
                    questions=tuple(Question(label, text) for label, text in raw["questions"]),
                    fixes=tuple(map(_fix, raw["fixes"])))


_DATA = json.loads((Path(__file__).parent / "playbooks.json").read_text(encoding="utf-8"))
PLAYBOOKS: tuple[Playbook, ...] = tuple(map(_playbook, _DATA["playbooks"]))


def choose(texts: list[str]) -> Playbook | None:
    """The playbook of the earliest text that matches any (so the choice sticks as the chat goes on)."""
    for text in texts:
        scored = [(pb.score(text), -i, pb) for i, pb in enumerate(PLAYBOOKS)]
        best = max(scored, key=lambda t: (t[0], t[1]))
        if best[0] > 0:
            return best[2]
    return None
