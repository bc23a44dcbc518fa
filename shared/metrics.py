"""Metrics every process writes to Redis and the web's /metrics reads, so multi-process and
multi-host workers report correctly without prometheus_client's multiprocess directory.

Counters and histogram buckets are HINCRBY/HINCRBYFLOAT on a few hashes; a scrape turns them into
Prometheus families. Recording is best effort: a metrics failure never fails a job.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import redis

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SEP = "\x1f"  # label separator inside hash fields


def key(namespace: str, name: str) -> str:
    return f"{namespace}:metrics:{name}"


def _observe(pipe: redis.client.Pipeline, namespace: str, name: str, labels: tuple[str, ...], value: float,
             buckets: Iterable[float]) -> None:
    """Count the observation in the one bucket it falls in; the scrape makes the buckets cumulative."""
    base = SEP.join(labels)
    h = key(namespace, name)
    le = next((str(b) for b in buckets if value <= b), "+Inf")
    pipe.hincrby(h, f"{base}{SEP}{le}", 1)
    pipe.hincrbyfloat(h, f"{base}{SEP}sum", value)


def add_job_finished(pipe: redis.client.Pipeline, namespace: str, *, kind: str, status: str,
                     duration_s: float | None, wait_s: float | None) -> None:
    """Queue a finished job's metrics on `pipe` (the runner sends them with its change notification)."""
    pipe.hincrby(key(namespace, "jobs_finished_total"), f"{kind}{SEP}{status}", 1)
    if duration_s is not None:
        _observe(pipe, namespace, "job_duration_seconds", (kind,), duration_s, DURATION_BUCKETS)
    if wait_s is not None:
        _observe(pipe, namespace, "job_queue_wait_seconds", (kind,), wait_s, DURATION_BUCKETS)


def record_external_call(client: redis.Redis, namespace: str, *, provider: str, status: int | None,
                         seconds: float) -> None:
    status_class = "error" if status is None else f"{status // 100}xx"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key(namespace, "external_calls_total"), f"{provider}{SEP}{status_class}", 1)
        _observe(pipe, namespace, "external_call_seconds", (provider,), seconds, CALL_BUCKETS)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("metrics not recorded: %s", exc)


# Usage fields counted, and their `direction` label: prompt caching shows as cache_write / cache_read.
TOKEN_DIRECTIONS = {"input_tokens": "input", "output_tokens": "output",
                    "cache_creation_input_tokens": "cache_write", "cache_read_input_tokens": "cache_read"}


def record_llm_tokens(client: redis.Redis, namespace: str, *, model: str | None, usage: dict[str, int]) -> None:
    try:
        pipe = client.pipeline(transaction=False)
        for field, direction in TOKEN_DIRECTIONS.items():
            if usage.get(field):
                pipe.hincrby(key(namespace, "llm_tokens_total"), f"{model or 'unknown'}{SEP}{direction}", int(usage[field]))
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("metrics not recorded: %s", exc)


def record_assistant_defects(client: redis.Redis, namespace: str, *, generator: str, count: int) -> None:
    """Malformed or partial proposals the assistant dropped (the reply text was kept)."""
    try:
        client.hincrby(key(namespace, "assistant_defects_total"), generator, count)
    except redis.RedisError as exc:
        log.debug("metrics not recorded: %s", exc)


def record_dropped_message(client: redis.Redis, namespace: str, *, reason: str) -> None:
    """A broker message a worker refused (no such job, or a tenant that disagrees with the job row)."""
    try:
        client.hincrby(key(namespace, "messages_dropped_total"), reason, 1)
    except redis.RedisError as exc:
        log.debug("metrics not recorded: %s", exc)
