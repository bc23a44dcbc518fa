"""What an assistant turn is written from (one snapshot) and what a generator hands back.

Both generators (offline playbooks, Anthropic) read a `Conversation` and return an `AssistantReply`:
the reply text plus proposed effects. Raw proposals from a model pass through `clean_fix`,
`clean_facts` and `clean_outcome` here, so a malformed one becomes a named defect, never an exception
that would lose the reply text.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from db.models import SessionSuggestedFix
from shared.llm.bundle import FixView, SessionBasis, problem_of
from shared.sessions.fixes import APPLIED_OUTCOMES, SCRIPT_LANGUAGES

MAX_FACTS_PER_TURN = 10
MAX_FACT_CHARS = 500
MAX_SCRIPT_CHARS = 20_000

# Called with the whole reply text so far, each time it grows (the job throttles what it stores).
TextSink = Callable[[str], None]


@dataclass(frozen=True)
class Turn:
    role: str  # user | assistant
    content: str


@dataclass(frozen=True)
class ActiveFix(FixView):
    """What a preview sees of the active fix, plus what the assistant needs to talk about it."""

    id: uuid.UUID
    script_language: str | None = None
    ai_outcome_proposal: dict[str, Any] | None = None

    @classmethod
    def of(cls, fix: SessionSuggestedFix) -> ActiveFix:
        return cls(**cls.fields_of(fix), id=fix.id, script_language=fix.script_language,
                   ai_outcome_proposal=fix.ai_outcome_proposal)


@dataclass(frozen=True)
class Conversation(SessionBasis):
    """One consistent read (REPEATABLE READ) of everything a reply may depend on."""

    transcript: list[Turn]  # oldest first, ending with the engineer's message being answered
    facts: list[str] = field(default_factory=list)
    fix: ActiveFix | None = None
    tried: list[dict[str, str]] = field(default_factory=list)  # every fix of the session: {title, status}
    l1_walk: dict[str, Any] | None = None  # {problem, path, notes, escalation_reason} of the escalated walk

    @property
    def problem(self) -> str:
        return problem_of(self.intake) or ""

    @property
    def latest(self) -> str:
        return next((t.content for t in reversed(self.transcript) if t.role == "user"), "")

    def state_dict(self) -> dict[str, Any]:
        """The live state, for a prompt: facts, the active fix and what was tried (changes every turn)."""
        fix = asdict(self.fix) if self.fix is not None else None
        if fix is not None:
            fix["id"] = str(fix["id"])
        return {"session_status": self.session_status, "facts": list(self.facts), "active_fix": fix,
                "fixes_so_far": list(self.tried)}


@dataclass(frozen=True)
class FixProposal:
    title: str
    description: str
    confidence_pct: int
    script: str | None = None
    script_language: str | None = None
    parameters: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The columns of a suggested fix, as POST …/suggested-fixes would set them."""
        return {"title": self.title, "description": self.description, "confidence_pct": self.confidence_pct,
                "ai_drafted_script": self.script, "ai_drafted_parameters": self.parameters,
                "script_language": self.script_language if self.script else None}


@dataclass(frozen=True)
class OutcomeProposal:
    outcome: str  # applied_success | applied_failed | applied_partial | applied_pending
    reason: str
    notes: str | None = None


@dataclass
class AssistantReply:
    text: str
    generator: str
    fix: FixProposal | None = None
    facts: list[str] = field(default_factory=list)
    outcome: OutcomeProposal | None = None
    defects: list[str] = field(default_factory=list)  # malformed or partial proposals, dropped
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


def storable(value: Any) -> Any:
    """`value` without NUL characters, which Postgres refuses in text and jsonb (a model may emit them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _text(value: Any, limit: int) -> str | None:
    value = storable(value)
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else None


def clean_fix(raw: Any) -> tuple[FixProposal | None, str | None]:
    """A fix proposal from untrusted input, or the defect that makes it unusable."""
    if not isinstance(raw, dict):
        return None, "suggest_fix: not an object"
    title, description = _text(raw.get("title"), 200), _text(raw.get("description"), 20_000)
    confidence = raw.get("confidence_pct")
    if title is None or description is None:
        return None, "suggest_fix: title and description are required"
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 100:
        return None, "suggest_fix: confidence_pct must be a number from 0 to 100"
    script = storable(raw.get("script"))
    if script is not None and not isinstance(script, str):
        return None, "suggest_fix: script must be a string"
    script = script.strip() if script and script.strip() else None
    if script is not None and len(script) > MAX_SCRIPT_CHARS:
        return None, "suggest_fix: script is too long"
    language = raw.get("script_language") or ("powershell" if script else None)
    if language is not None and language not in SCRIPT_LANGUAGES:
        return None, f"suggest_fix: unknown script_language {str(language)[:40]!r}"
    parameters = storable(raw.get("script_parameters"))
    if parameters is not None and not isinstance(parameters, dict):
        return None, "suggest_fix: script_parameters must be an object"
    return FixProposal(title, description, int(confidence), script, language, parameters or None), None


def clean_facts(raw: Any) -> tuple[list[str], str | None]:
    facts = raw.get("facts") if isinstance(raw, dict) else None
    if not isinstance(facts, list) or not facts:
        return [], "record_facts: facts must be a non-empty list of strings"
    texts = [t for t in (_text(f, MAX_FACT_CHARS) for f in facts) if t]
    if len(texts) != len(facts):
        return [], "record_facts: every fact must be a non-empty string"
    return texts[:MAX_FACTS_PER_TURN], None


def clean_outcome(raw: Any) -> tuple[OutcomeProposal | None, str | None]:
    if not isinstance(raw, dict):
        return None, "propose_outcome: not an object"
    outcome, reason = raw.get("outcome"), _text(raw.get("reason"), 1000)
    if outcome not in APPLIED_OUTCOMES:
        return None, f"propose_outcome: outcome must be one of {', '.join(APPLIED_OUTCOMES)}"
    if reason is None:
        return None, "propose_outcome: reason is required"
    notes = _text(raw.get("notes"), 10_000)
    if notes is None and outcome in ("applied_partial", "applied_pending"):
        notes = reason  # PATCH …/outcome needs notes for these; the reason says what remains / what we wait on
    return OutcomeProposal(str(outcome), reason, notes), None
