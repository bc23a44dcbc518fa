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
    if fix.status == "applied_success":
        return {
            "summary": summary + " This issue is resolved.",
            "actions_taken": actions,
            "outcome": f"Resolved: {fix.title} fixed the issue and we confirmed it is working.",
            "next_steps": "No further action is needed. Reply to this ticket if the problem returns.",
        }
    if fix.status == "applied_failed":
        reason = fix.failure_reason or "the symptoms persisted"
        return {
            "summary": summary + " The issue is not yet resolved.",
            "actions_taken": actions,
            "outcome": f"What we tried did not work: {fix.title} did not resolve the issue ({reason}).",
            "next_steps": "We will try a different approach and keep you updated on progress.",
        }
    if fix.status == "applied_partial":
        notes = fix.partial_notes or "some symptoms remain"
        return {
            "summary": summary + " The issue is partly resolved.",
            "actions_taken": actions,
            "outcome": f"Partly resolved: {fix.title} helped, but {notes}.",
            "next_steps": "We will address the remaining symptoms and follow up.",
        }
    wait = fix.pending_reason or "a verification step"
    return {
        "summary": summary + " The fix is in place and awaiting verification.",
        "actions_taken": actions,
        "outcome": f"Provisional: {fix.title} has been applied but is not yet verified; we are waiting on {wait}.",
        "next_steps": f"Once {wait} completes we will confirm the result and close this ticket.",
    }


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
