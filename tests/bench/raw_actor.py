"""Dramatiq alone: a RedisBroker with the app's middleware list and one no-op actor.

Used in-process by bench_pipeline (the raw baseline) and as a dramatiq CLI module for the same
baseline in real worker processes:

    FPBENCH_RAW_REDIS_URL=redis://127.0.0.1:6379/15 FPBENCH_RAW_NAMESPACE=fpraw-x \
        python -m dramatiq tests.bench.raw_actor --processes 2 --threads 8 --queues raw
"""
from __future__ import annotations

import os
import time
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import ShutdownNotifications, TimeLimit

QUEUE = "raw"
ACTOR = "bench.noop"


def make_broker(url: str, namespace: str) -> RedisBroker:
    """The same broker options and middleware as workers/broker.py, minus the app's resources."""
    broker = RedisBroker(url=url, namespace=namespace, heartbeat_timeout=30_000,
                         middleware=[TimeLimit(time_limit=15 * 60 * 1000, interval=1000), ShutdownNotifications()])
    broker.declare_queue(QUEUE)
    return broker


def declare_noop(broker: RedisBroker) -> Any:
    def noop(i: int = 0, sleep_ms: int = 0) -> None:
        if sleep_ms:  # "equal work" comparison: the same sleep as system.echo's delay_ms
            time.sleep(sleep_ms / 1000)

    return dramatiq.actor(noop, actor_name=ACTOR, queue_name=QUEUE, broker=broker)


if "FPBENCH_RAW_NAMESPACE" in os.environ:  # imported by the dramatiq CLI
    broker = make_broker(os.environ["FPBENCH_RAW_REDIS_URL"], os.environ["FPBENCH_RAW_NAMESPACE"])
    dramatiq.set_broker(broker)
    noop = declare_noop(broker)
