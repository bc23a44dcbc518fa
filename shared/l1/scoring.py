"""A small, explainable scorer: field-weighted term overlap, damped for terms every document shares.

    evidence = Σ over terms shared by the query and the document of  field_weight × specificity
    score    = 1 − exp(−evidence / 1.5)                              (0 ≤ score < 1)

field_weight: 1.0 for a title, keyword or category name, 0.4 for node text (questions, answers,
instructions); a term found in several fields counts once, at its best field. specificity: 1.0 for a
term only one candidate has, falling linearly to 0.5 for a term every candidate has. So one
distinctive title or keyword term scores 0.49, two score 0.74, three 0.86; node-text terms add
little. Ties break on label then key, so the ranking is deterministic.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.l1.text import terms

FIELD_WEIGHTS = {"title": 1.0, "keyword": 1.0, "name": 1.0, "text": 0.4}
SCALE = 1.5


@dataclass(frozen=True)
class Doc:
    key: str
    label: str
    weights: dict[str, float]  # stem → best field weight
    fields: dict[str, str]  # stem → the field that weight came from


@dataclass(frozen=True)
class Scored:
    key: str
    label: str
    score: float
    contributions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matched_terms(self) -> list[str]:
        return [c["term"] for c in self.contributions]

    def explain(self) -> dict[str, Any]:
        return {"score": self.score, "matched_terms": self.matched_terms, "contributions": self.contributions}


def build_doc(key: str, label: str, parts: Iterable[tuple[str, str]]) -> Doc:
    """`parts` = (field, text) pairs, field one of FIELD_WEIGHTS."""
    weights: dict[str, float] = {}
    fields: dict[str, str] = {}
    for field_name, text in parts:
        weight = FIELD_WEIGHTS[field_name]
        for term in terms(text):
            if weight > weights.get(term, 0.0):
                weights[term], fields[term] = weight, field_name
    return Doc(key=key, label=label, weights=weights, fields=fields)


def rank(query: str, docs: list[Doc]) -> list[Scored]:
    """Every doc scored against `query`, best first (score, then label, then key)."""
    wanted = terms(query)
    n = len(docs)
    df = Counter(term for doc in docs for term in doc.weights if term in wanted)
    out = []
    for doc in docs:
        evidence = 0.0
        contributions: list[dict[str, Any]] = []
        for stem_, surface in wanted.items():
            weight = doc.weights.get(stem_)
            if weight is None:
                continue
            specificity = 1.0 if n <= 1 else 1.0 - 0.5 * (df[stem_] - 1) / (n - 1)
            part = weight * specificity
            evidence += part
            contributions.append({"term": surface, "field": doc.fields[stem_], "weight": round(part, 3)})
        contributions.sort(key=lambda c: (-float(c["weight"]), str(c["term"])))
        score = round(1.0 - math.exp(-evidence / SCALE), 3)
        out.append(Scored(key=doc.key, label=doc.label, score=score, contributions=contributions))
    out.sort(key=lambda s: (-s.score, s.label, s.key))
    return out
