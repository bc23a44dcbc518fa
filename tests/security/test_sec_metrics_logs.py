"""Smaller exposures (issue 13, item 9): who may scrape /metrics and how often it costs a query, and
secrets inside tracebacks.

- `/metrics` answers only platform operators (401 without a token, 403 for tenant users): the counts
  describe every tenant's traffic.
- A scrape's counts are cached for FLOWPILOT_METRICS_CACHE_S, so a scraper hammering the endpoint costs
  one GROUP BY over `jobs` per period, not one per request.
- A logged exception's traceback goes through the same redaction as the message.
"""
from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.logging_setup import RedactingFilter
from tests.helpers import submit_job


def _jobs_gauge(text: str) -> dict[tuple[str, ...], float]:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {tuple(s.labels.values()): s.value for s in families["flowpilot_jobs"].samples}


def test_metrics_need_an_operator_token(client, tenant, operator):
    assert client.get("/metrics").status_code == 401
    for role in ("l1", "engineer", "admin", "owner"):
        assert client.get("/metrics", headers=tenant.h(role)).status_code == 403, role
    resp = client.get("/metrics", headers=operator)
    assert resp.status_code == 200 and "flowpilot_jobs" in resp.get_data(as_text=True)


@pytest.fixture
def cached_app(settings: Any) -> Iterator[Any]:
    from web import create_app

    application = create_app(settings.model_copy(update={"flowpilot_metrics_cache_s": 1.0}))
    application.config["TESTING"] = True
    yield application
    application.extensions["flowpilot"].dispose()


def test_metrics_counts_are_cached_for_a_few_seconds(cached_app, tenant, operator):
    c = cached_app.test_client()
    first = c.get("/metrics", headers=operator)
    assert first.status_code == 200
    submit_job(c, tenant)  # a new queued row: a fresh query would count it
    again = c.get("/metrics", headers=operator).get_data(as_text=True)
    assert _jobs_gauge(again).get(("system.echo", "queued"), 0) == _jobs_gauge(first.get_data(as_text=True)).get(
        ("system.echo", "queued"), 0)
    time.sleep(1.2)
    later = c.get("/metrics", headers=operator).get_data(as_text=True)
    assert _jobs_gauge(later)[("system.echo", "queued")] >= 1


def test_tracebacks_are_redacted_like_messages():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters))
    assert isinstance(handler, logging.StreamHandler)
    token = "fp_" + "A1b2C3d4" * 5
    basic = "Basic " + "c2VjcmV0OnZhbHVl" * 3
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        try:
            raise RuntimeError(f"call failed with headers {{'Authorization': '{basic}'}} for {token}")
        except RuntimeError:
            logging.getLogger("flowpilot.test").exception("the PSA call blew up")
        try:
            raise ValueError(token)
        except ValueError:
            logging.getLogger("flowpilot.test").error("plain message", exc_info=True, stack_info=True)
    finally:
        handler.setStream(old)
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError" in out and "[REDACTED]" in out
    assert token not in out and basic.split(" ", 1)[1] not in out
