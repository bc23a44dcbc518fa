"""Section layouts of both drafts and their markdown rendering (our code owns the shape, not the model)."""
from __future__ import annotations

from typing import Any, Literal

from shared.llm.structured import STRING, strict_object

PreviewKind = Literal["resolution_note", "escalation_package"]

RESOLUTION_SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("actions_taken", "What we did"),
    ("outcome", "Outcome"),
    ("next_steps", "Next steps"),
)
ESCALATION_SECTIONS: tuple[tuple[str, str], ...] = (
    ("problem", "Problem"),
    ("confirmed", "What we've confirmed"),
    ("tried", "What we've tried"),
    ("hypothesis", "Current hypothesis"),
    ("next_steps", "Suggested next steps"),
)
SECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "resolution_note": RESOLUTION_SECTIONS,
    "escalation_package": ESCALATION_SECTIONS,
}


def json_schema(kind: PreviewKind) -> dict[str, Any]:
    """One required string field per section, nothing else: the shape cannot drift."""
    return strict_object(**{key: STRING for key, _ in SECTIONS[kind]})


def render(kind: PreviewKind, sections: dict[str, str]) -> str:
    parts = []
    for key, heading in SECTIONS[kind]:
        body = str(sections.get(key) or "").strip() or "_Nothing recorded._"
        parts.append(f"## {heading}\n\n{body}")
    return "\n\n".join(parts) + "\n"
