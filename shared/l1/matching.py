"""Match-or-build: which published flow fits a problem statement, and which category it belongs to.

Both use shared/l1/scoring.py (deterministic, explainable) over the tenant's cached index of published flows
and categories (shared/l1/flow_index.py). Outcomes, in this order:
1. `matched`      the best published flow of an enabled category scores ≥ match threshold;
2. `out_of_scope` the problem's category (best category scoring ≥ category threshold) is disabled,
                  or no category reaches the threshold (unknown);
3. `suggest`      the best flow scores ≥ suggest threshold: offered as a near miss;
4. `build`        otherwise: an AI-built walk in the classified category.
`force_build` skips 1 and 3; the category gate (2) still applies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.l1.flow_index import FlowIndex, IndexedFlow
from shared.l1.scoring import Scored, rank


@dataclass(frozen=True)
class Thresholds:
    match: float
    suggest: float
    category: float

    def as_dict(self) -> dict[str, float]:
        return {"match": self.match, "suggest": self.suggest, "category": self.category}


@dataclass
class Decision:
    outcome: str  # matched | suggest | out_of_scope | build
    category: str | None = None
    category_score: Scored | None = None
    category_enabled: bool | None = None
    flow: IndexedFlow | None = None
    flow_score: Scored | None = None
    reason: str | None = None
    candidates: list[Scored] = field(default_factory=list)


def classify(problem: str, index: FlowIndex, threshold: float) -> Scored | None:
    """The best category at or above `threshold`, else None (unknown)."""
    ranked = rank(problem, [c.doc for c in index.categories])
    return ranked[0] if ranked and ranked[0].score >= threshold and ranked[0].score > 0 else None


def decide(problem: str, *, index: FlowIndex, thresholds: Thresholds, force_build: bool = False) -> Decision:
    enabled = {c.name for c in index.categories if c.enabled}
    candidates = [f for f in index.flows if f.category in enabled]
    by_id = {str(f.id): f for f in candidates}
    ranked = [s for s in rank(problem, [f.doc for f in candidates]) if s.score > 0]
    best = ranked[0] if ranked else None
    top3 = ranked[:3]
    if best is not None and not force_build and best.score >= thresholds.match:
        flow = by_id[best.key]
        return Decision("matched", category=flow.category, category_enabled=True, flow=flow, flow_score=best,
                        candidates=top3)
    category = classify(problem, index, thresholds.category)
    if category is None:
        return Decision("out_of_scope", reason="category_unknown", candidates=top3)
    decision = Decision("build", category=category.key, category_score=category,
                        category_enabled=category.key in enabled, candidates=top3)
    if not decision.category_enabled:
        decision.outcome, decision.reason = "out_of_scope", "category_disabled"
        return decision
    if best is not None and not force_build and best.score >= thresholds.suggest:
        decision.outcome, decision.flow, decision.flow_score = "suggest", by_id[best.key], best
    return decision


def scored_flow_dict(flow: IndexedFlow, scored: Scored) -> dict[str, Any]:
    return {"flow_id": str(flow.id), "title": flow.title, "category": flow.category, **scored.explain()}
