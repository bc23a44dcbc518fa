"""The broker, built in one place with an ordered, commented middleware list."""
from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware, ShutdownNotifications, TimeLimit

from shared.jobs.kinds import QUEUES, spec_for
from shared.settings import Settings
from workers import resources as resources_mod
from workers.handlers import HANDLERS
from workers.heartbeat import Heartbeat
from workers.resources import Resources
from workers.runner import Handler, run_job

log = logging.getLogger(__name__)


class WorkerResources(Middleware):
    """Create the engine, Redis client, HTTP session and heartbeat once per process; dispose at exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        res = Resources.create(self.settings)
        res.heartbeat = Heartbeat(res, self.settings.flowpilot_heartbeat_interval_s,
                                  broker_id=getattr(broker, "broker_id", None))  # a RedisBroker's consumer id
        res.heartbeat.start()
        resources_mod.install(res)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        resources_mod.current().set_worker_threads(worker.worker_threads)

    def before_process_stop(self, broker: dramatiq.Broker) -> None:
        try:
            resources_mod.current().dispose()
        except RuntimeError:
            pass
        resources_mod.install(None)


def build_broker(settings: Settings, *, with_resources: bool = True) -> RedisBroker:
    middleware: list[Middleware] = [
        # 1. Backstop for a runaway pure-Python handler. It cannot interrupt a blocking socket
        #    call, so every HTTP call carries its own timeout as well.
        TimeLimit(time_limit=15 * 60 * 1000, interval=1000),
        # 2. Let long handlers notice a graceful shutdown (SIGTERM) and stop between steps.
        ShutdownNotifications(),
    ]
    if with_resources:
        # 3. Per-process resources last, so they exist before any actor runs.
        middleware.append(WorkerResources(settings))
    # No Retries middleware on purpose: retries, backoff and dead ends live in the jobs table,
    # where pollers and operators can see them. A message that still raises is dead-lettered.
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.flowpilot_redis_namespace,
        middleware=middleware,
        # Silent this long, a worker is dead to Dramatiq's maintenance (its fetched messages are requeued),
        # as it is to our sweeper; our heartbeat thread keeps a live one beating.
        heartbeat_timeout=int(settings.flowpilot_stale_heartbeat_s * 1000),
    )
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def register_actors(broker: dramatiq.Broker) -> None:
    """One actor per job kind, named for it; each claims and runs through the same runner."""
    for kind, handler in HANDLERS.items():
        fn = _make_actor_fn(kind, handler)
        fn.__name__ = kind.replace(".", "_")
        dramatiq.actor(actor_name=kind, queue_name=spec_for(kind).queue, broker=broker)(fn)


def _make_actor_fn(kind: str, handler: Handler) -> Any:
    def actor_fn(job_id: str, account_id: str | None = None) -> None:
        run_job(resources_mod.current(), handler, job_id, account_id, kind=kind)

    return actor_fn
