"""One interface for every generator (offline, Anthropic): drafts and template proposals."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.llm.bundle import PreviewBundle
from shared.llm.next_node import NextNodeContext
from shared.llm.sections import PreviewKind
from shared.llm.template_heuristics import TemplateProposal


@dataclass(frozen=True)
class Draft:
    kind: PreviewKind
    sections: dict[str, str]
    markdown: str
    generator: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


class Generator(Protocol):
    name: str

    def draft(self, kind: PreviewKind, bundle: PreviewBundle) -> Draft: ...

    def extract_template(self, script: str, facts: list[str]) -> TemplateProposal: ...

    def next_node(self, context: NextNodeContext) -> dict[str, Any]: ...
