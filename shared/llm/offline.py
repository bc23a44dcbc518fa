"""The offline generator: deterministic, no network, the same outcome rules and section layouts.

The embedded default (no ANTHROPIC_API_KEY) and a readable fallback; tests assert on its content.
"""
from __future__ import annotations

from typing import Any

from shared.llm.bundle import FixView, PreviewBundle
from shared.llm.generator import Draft
from shared.llm.l1_offline import offline_next_node
from shared.llm.next_node import NextNodeContext
from shared.llm.sections import PreviewKind, render
from shared.llm.template_heuristics import TemplateProposal, extract_parameters


def _facts(bundle: PreviewBundle, empty: str) -> str:
    return "\n".join(f"- {fact}" for fact in bundle.facts) if bundle.facts else empty


def _when(fix: FixView) -> str:
    return f" on {fix.applied_at:%Y-%m-%d %H:%M} UTC" if fix.applied_at else ""


def _resolution(bundle: PreviewBundle) -> dict[str, str]:
    fix, problem = bundle.fix, bundle.problem
    summary = f"Reported issue: {problem}."
    actions = _facts(bundle, "- Investigated the reported symptoms.")
    if fix is None or fix.status in ("proposed", "dismissed"):
        proposed = f"\n- Identified a candidate fix, not yet applied: {fix.title}." if fix and fix.status == "proposed" else ""
        return {
            "summary": summary,
            "actions_taken": actions + proposed,
            "outcome": "No fix has been applied yet, so the issue is not confirmed as fixed.",
            "next_steps": "Apply and verify a fix before closing this ticket.",
        }
    actions += f"\n- Applied: {fix.title}{_when(fix)}."
    suffix, outcome, next_steps = _APPLIED[fix.status]
    words = {"title": fix.title, "detail": _detail(fix)}
    return {
        "summary": summary + suffix,
        "actions_taken": actions,
        "outcome": outcome.format(**words),
        "next_steps": next_steps.format(**words),
    }


# An applied fix's status → (summary suffix, outcome, next steps); {title} and {detail} come from the fix.
_APPLIED: dict[str, tuple[str, str, str]] = {
    "applied_success": (" This issue is resolved.",
                        "Resolved: {title} fixed the issue and we confirmed it is working.",
                        "No further action is needed. Reply to this ticket if the problem returns."),
    "applied_failed": (" The issue is not yet resolved.",
                       "What we tried did not work: {title} did not resolve the issue ({detail}).",
                       "We will try a different approach and keep you updated on progress."),
    "applied_partial": (" The issue is partly resolved.",
                        "Partly resolved: {title} helped, but {detail}.",
                        "We will address the remaining symptoms and follow up."),
    "applied_pending": (" The fix is in place and awaiting verification.",
                        "Provisional: {title} has been applied but is not yet verified; we are waiting on {detail}.",
                        "Once {detail} completes we will confirm the result and close this ticket."),
}


def _detail(fix: FixView) -> str:
    """What the outcome turned on: why it failed, what remains, or what we wait for."""
    if fix.status == "applied_failed":
        return fix.failure_reason or "the symptoms persisted"
    if fix.status == "applied_partial":
        return fix.partial_notes or "some symptoms remain"
    return fix.pending_reason or "a verification step"


def _escalation(bundle: PreviewBundle) -> dict[str, str]:
    fix = bundle.fix
    confirmed = _facts(bundle, "- Nothing confirmed beyond the initial report.")
    tried = "- No fix has been applied yet."
    hypothesis = "Root cause not yet identified; the confirmed facts above are the best lead."
    steps = "- Review the confirmed facts and reproduce the issue.\n- Identify and apply a candidate fix."
    if fix is not None:
        if fix.status == "proposed":
            tried = f"- Proposed but not applied: {fix.title}."
            hypothesis = f"Unverified candidate: {fix.description}"
            steps = f"- Decide whether to apply: {fix.title}.\n- Verify the outcome and record it."
        elif fix.status == "dismissed":
            tried = f"- Considered and dismissed: {fix.title}."
        elif fix.status == "applied_success":
            tried = f"- Applied{_when(fix)}: {fix.title} — verified working."
            hypothesis = f"Confirmed: {fix.description}"
            steps = "- Confirm with the customer and monitor for recurrence."
        elif fix.status == "applied_failed":
            tried = f"- Applied{_when(fix)}: {fix.title} — failed: {fix.failure_reason or 'no improvement'}."
            hypothesis = f"The cause is not what {fix.title} addresses; look beyond: {fix.description}"
            steps = "- Rule out the failed approach's assumptions.\n- Gather logs around the failure and try an alternative fix."
        elif fix.status == "applied_partial":
            tried = f"- Applied{_when(fix)}: {fix.title} — partial: {fix.partial_notes or 'some symptoms remain'}."
            hypothesis = f"More than one cause: {fix.title} addressed part of it; the remainder needs its own fix."
            steps = "- Isolate the remaining symptoms.\n- Investigate what the applied fix did not cover."
        elif fix.status == "applied_pending":
            wait = fix.pending_reason or "a verification step"
            tried = f"- Applied{_when(fix)}: {fix.title} — pending verification."
            hypothesis = f"Pending verification: {fix.title} may have fixed it; we are waiting on {wait}. {fix.description}"
            steps = f"- Check the result once {wait} completes.\n- If it did not help, continue from the confirmed facts."
        if fix.script:
            tried += f"\n- Script used:\n\n```\n{fix.script.strip()}\n```"
    return {
        "problem": f"{bundle.problem} (ticket {bundle.psa_ticket_id})" if bundle.psa_ticket_id else bundle.problem,
        "confirmed": confirmed,
        "tried": tried,
        "hypothesis": hypothesis,
        "next_steps": steps,
    }


class OfflineGenerator:
    name = "offline"
    model: str | None = None

    def draft(self, kind: PreviewKind, bundle: PreviewBundle) -> Draft:
        sections = _resolution(bundle) if kind == "resolution_note" else _escalation(bundle)
        return Draft(kind=kind, sections=sections, markdown=render(kind, sections), generator=self.name)

    def extract_template(self, script: str, facts: list[str]) -> TemplateProposal:
        return extract_parameters(script, facts)

    def next_node(self, context: NextNodeContext) -> dict[str, Any]:
        return offline_next_node(context)
