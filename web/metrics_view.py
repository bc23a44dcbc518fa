"""GET /metrics: Prometheus text built from Redis (worker counters) and Postgres (job states).

Operators only: the counts describe every tenant's traffic. The text is rebuilt at most once per
FLOWPILOT_METRICS_CACHE_S per web process, so a scraper (or anyone with a token) hammering the endpoint
costs one GROUP BY over `jobs` per period, not one per request.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.metrics import SEP, key
from shared.ops import queue_stats
from web.auth import require
from web.state import AppState, state

bp = Blueprint("metrics", __name__)


def _decode(raw: Any) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}


def _histogram(name: str, doc: str, label: str, raw: dict[str, str]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=[label])
    grouped: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in raw.items():
        labelvalue, bound = field.rsplit(SEP, 1)
        grouped[labelvalue][bound] = float(value)
    for labelvalue, values in sorted(grouped.items()):
        # Workers count each observation in its own bucket only; Prometheus wants cumulative ones.
        bounds = sorted((float(b), c) for b, c in values.items() if b not in ("+Inf", "sum"))
        running, buckets = 0.0, []
        for upper, count in bounds:
            running += count
            buckets.append((str(upper), running))
        buckets.append(("+Inf", running + values.get("+Inf", 0.0)))
        family.add_metric([labelvalue], buckets, values.get("sum", 0.0))
    return family


def _counter(name: str, doc: str, labels: list[str], raw: dict[str, str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for field, value in sorted(raw.items()):
        family.add_metric(field.split(SEP), float(value))
    return family


class FlowPilotCollector(Collector):
    def __init__(self, st: AppState) -> None:
        self.st = st

    def collect(self) -> Iterator[Metric]:
        r, ns = self.st.redis, self.st.namespace
        yield _counter("flowpilot_jobs_finished", "Jobs reaching a terminal or retrying state, by kind and status",
                       ["kind", "status"], _decode(r.hgetall(key(ns, "jobs_finished_total"))))
        yield _histogram("flowpilot_job_duration_seconds", "Time from claim to finish, per attempt", "kind",
                         _decode(r.hgetall(key(ns, "job_duration_seconds"))))
        yield _histogram("flowpilot_job_queue_wait_seconds", "Time from creation (or due) to first claim", "kind",
                         _decode(r.hgetall(key(ns, "job_queue_wait_seconds"))))
        yield _counter("flowpilot_external_calls", "Calls to PSA and LLM providers by status class",
                       ["provider", "status_class"], _decode(r.hgetall(key(ns, "external_calls_total"))))
        yield _histogram("flowpilot_external_call_seconds", "Latency of external calls", "provider",
                         _decode(r.hgetall(key(ns, "external_call_seconds"))))
        yield _counter("flowpilot_llm_tokens", "LLM tokens by model and direction", ["model", "direction"],
                       _decode(r.hgetall(key(ns, "llm_tokens_total"))))
        yield _counter("flowpilot_assistant_defects", "Assistant proposals dropped as malformed or partial (text kept)",
                       ["generator"], _decode(r.hgetall(key(ns, "assistant_defects_total"))))
        yield _counter("flowpilot_messages_dropped", "Broker messages workers refused: no such job, or a tenant "
                       "that disagrees with the job row", ["reason"], _decode(r.hgetall(key(ns, "messages_dropped_total"))))
        jobs = GaugeMetricFamily("flowpilot_jobs", "Jobs in the database by kind and status", labels=["kind", "status"])
        with transaction(self.st.engine, SYSTEM) as db:
            for kind, status, count in db.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            ).all():
                jobs.add_metric([kind, status], count)
        yield jobs
        depth = GaugeMetricFamily("flowpilot_queue_messages", "Broker messages by queue and state", labels=["queue", "state"])
        for q in queue_stats(r, ns):
            for state_name in ("ready", "delayed", "in_flight", "dead"):
                depth.add_metric([q["name"], state_name], q[state_name])
        yield depth


class ScrapeCache:
    """The last rendered scrape, reused for `ttl_s`; one thread renders while the others wait for it."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._until = 0.0

    def get(self, render: Any) -> bytes:
        with self._lock:
            if self._body is None or time.monotonic() >= self._until:
                self._body = render()
                self._until = time.monotonic() + self._ttl_s
            return self._body


def _render(st: AppState) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowPilotCollector(st))
    return bytes(generate_latest(registry))


def _cache(app: Flask) -> ScrapeCache:
    cache: ScrapeCache | None = app.extensions.get("flowpilot_metrics")
    if cache is None:
        cache = app.extensions.setdefault("flowpilot_metrics", ScrapeCache(state().settings.flowpilot_metrics_cache_s))
    return cache


@bp.get("/metrics")
@require(operator=True)
def metrics() -> Any:
    st = state()
    body = _cache(current_app).get(lambda: _render(st))
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
