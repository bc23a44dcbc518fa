"""The contract between our generators and an LLM transport that returns schema-shaped JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StructuredResult:
    data: dict[str, Any]
    model: str
    usage: dict[str, int] = field(default_factory=dict)  # input_tokens, output_tokens
    stop_reason: str | None = None


class StructuredClient(Protocol):
    """Ask for JSON matching `schema`; raise shared.errors.TransientError / PermanentError on failure."""

    def call(self, *, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> StructuredResult: ...


STRING: dict[str, Any] = {"type": "string"}


def strict_object(**properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema object whose properties are all required and nothing else is allowed (structured outputs)."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def array_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}
