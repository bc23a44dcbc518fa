"""L1 AI build, the contract: the context every generator gets for the next question of a walk, and the
node shape it returns (the offline question banks are in shared/llm/l1_offline.py).

A node is `{"question": str, "answers": [{"label": str, "leads_to": "next" | "resolve" | "escalate"}]}`:
`next` asks for another generated question, `resolve` / `escalate` end the walk that way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shared.llm.structured import STRING, array_of, strict_object

LEADS_TO = ("next", "resolve", "escalate")
MAX_ANSWERS = 6
NEXT_NODE_SCHEMA = strict_object(
    question=STRING,
    answers=array_of(strict_object(label=STRING, leads_to={"type": "string", "enum": list(LEADS_TO)})),
)


@dataclass(frozen=True)
class NextNodeContext:
    problem: str
    category: str
    path: list[dict[str, str]] = field(default_factory=list)  # [{"question", "answer"}], oldest first
    notes: list[str] = field(default_factory=list)
    observation: str | None = None

    def as_prompt_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_node(data: dict[str, Any]) -> dict[str, Any]:
    """Trimmed question, 2-6 distinct answers with a known `leads_to`; ValueError otherwise."""
    question = str(data.get("question") or "").strip()[:500]
    if not question:
        raise ValueError("the node has no question")
    answers: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in data.get("answers") or []:
        if not isinstance(item, dict):
            continue
        label = str(item.get("label") or "").strip()[:200]
        leads_to = str(item.get("leads_to") or "")
        if not label or leads_to not in LEADS_TO or label.lower() in seen:
            continue
        seen.add(label.lower())
        answers.append({"label": label, "leads_to": leads_to})
    if not 2 <= len(answers) <= MAX_ANSWERS:
        raise ValueError(f"the node needs 2-{MAX_ANSWERS} distinct answers, got {len(answers)}")
    return {"question": question, "answers": answers}
