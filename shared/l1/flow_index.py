"""A tenant's published flows and categories, tokenised once and kept per process until they change.

Intake used to load every published flow (trees included, up to 2,000) and re-tokenise them, and every
category with its flows' words, on each request. The index holds those scored documents instead; each
intake first reads a stamp (count and latest change of the tenant's published flows and categories: one
small indexed query) and rebuilds only when it moved. Publishing a flow or changing a category moves it,
so every web process sees the change on its next intake without any message between processes; an
entry also expires after MAX_AGE_S as a backstop (e.g. a clock step that repeats a timestamp).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import L1Category, L1Flow
from shared import limits
from shared.l1.flows import flow_text
from shared.l1.scoring import Doc, build_doc

MAX_AGE_S = 60.0
MAX_CACHED_FLOWS = 20_000  # across tenants, per process: the least recently used tenants are dropped


@dataclass(frozen=True)
class IndexedFlow:
    id: uuid.UUID
    title: str
    category: str
    doc: Doc


@dataclass(frozen=True)
class IndexedCategory:
    name: str
    enabled: bool
    doc: Doc


@dataclass(frozen=True)
class FlowIndex:
    flows: tuple[IndexedFlow, ...]
    categories: tuple[IndexedCategory, ...]
    stamp: Any = None
    built_at: float = 0.0

    @classmethod
    def build(cls, categories: Sequence[L1Category], flows: Sequence[L1Flow], stamp: Any = None) -> FlowIndex:
        """Each flow is tokenised once; a category's document adds its flows' titles, keywords and text."""
        by_category: dict[str, list[tuple[str, str]]] = defaultdict(list)
        indexed = []
        for flow in flows:
            named = [("title", flow.title), *(("keyword", k) for k in flow.keywords or [])]
            body = flow_text(flow.tree)
            indexed.append(IndexedFlow(flow.id, flow.title, flow.category,
                                       build_doc(str(flow.id), flow.title,
                                                 [*named, ("text", flow.description or ""), ("text", body)])))
            by_category[flow.category] += [*named, ("text", body)]
        cats = []
        for category in categories:
            parts = [("name", category.name.replace("-", " ").replace("_", " "))]
            parts += [("keyword", k) for k in category.keywords or []]
            parts.append(("text", category.description or ""))
            parts += by_category.get(category.name, [])
            cats.append(IndexedCategory(category.name, category.enabled, build_doc(category.name, category.name, parts)))
        return cls(tuple(indexed), tuple(cats), stamp, time.monotonic())


def _stamp(db: Session, account_id: uuid.UUID) -> tuple[Any, ...]:
    flows = select(func.count(), func.max(L1Flow.updated_at)).where(
        L1Flow.account_id == account_id, L1Flow.status == "published")
    cats = select(func.count(), func.max(L1Category.updated_at)).where(L1Category.account_id == account_id)
    return (*db.execute(flows).one(), *db.execute(cats).one())


def _load(db: Session, account_id: uuid.UUID, stamp: tuple[Any, ...]) -> FlowIndex:
    categories = db.execute(select(L1Category).where(L1Category.account_id == account_id)
                            .order_by(L1Category.name).limit(limits.MAX_CATEGORIES)).scalars().all()
    flows = db.execute(select(L1Flow).where(L1Flow.account_id == account_id, L1Flow.status == "published")
                       .order_by(L1Flow.created_at, L1Flow.id).limit(limits.MAX_PUBLISHED_FLOWS)).scalars().all()
    return FlowIndex.build(categories, flows, stamp)


class FlowIndexCache:
    """Per-process indexes by tenant, least recently used dropped past `max_flows` flows in total."""

    def __init__(self, max_flows: int = MAX_CACHED_FLOWS, max_age_s: float = MAX_AGE_S) -> None:
        self._max_flows = max_flows
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[uuid.UUID, FlowIndex] = OrderedDict()

    def get(self, db: Session, account_id: uuid.UUID) -> FlowIndex:
        """The tenant's index, as of the request's transaction (rebuilt when its stamp moved)."""
        stamp = _stamp(db, account_id)
        with self._lock:
            hit = self._entries.get(account_id)
            if hit is not None and hit.stamp == stamp and time.monotonic() - hit.built_at < self._max_age_s:
                self._entries.move_to_end(account_id)
                return hit
        index = _load(db, account_id, stamp)
        with self._lock:
            self._entries[account_id] = index
            self._entries.move_to_end(account_id)
            total = sum(len(i.flows) for i in self._entries.values())
            while total > self._max_flows and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                total -= len(dropped.flows)
        return index

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


INDEXES = FlowIndexCache()
