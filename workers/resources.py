"""Per-process resources, created once at worker boot and disposed at shutdown."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import requests
from sqlalchemy import Engine

from db.engine import dispose_engines, make_engines
from shared.capacity import Capacity
from shared.jobs.dispatch import Dispatcher
from shared.llm.factory import build_generator
from shared.llm.generator import Generator
from shared.psa.http_guard import guard_session
from shared.security.crypto import CredentialCipher
from shared.settings import Settings
from shared.thread_share import TenantThreadShare

if TYPE_CHECKING:
    from workers.heartbeat import Heartbeat

log = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    dispatcher: Dispatcher
    http: requests.Session
    generator: Generator
    cipher: CredentialCipher | None = None  # None without FLOWPILOT_SECRET_KEYS
    llm_capacity: Capacity | None = None  # concurrent LLM calls
    psa_capacity: Capacity | None = None  # concurrent PSA jobs
    psa_share: TenantThreadShare | None = None  # one tenant's share of this process's threads (set at worker boot)
    heartbeat: Heartbeat | None = None  # once the process has booted

    @classmethod
    def create(cls, settings: Settings) -> Resources:
        res = cls(
            settings=settings,
            engine=make_engines(settings.database_url, settings.flowpilot_system_database_url,
                                pool_size=settings.flowpilot_db_pool_size),
            redis=redis.Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=30),
            dispatcher=Dispatcher.from_url(settings.redis_url, settings.flowpilot_redis_namespace),
            http=guard_session(requests.Session()),
            generator=build_generator(settings),
            cipher=CredentialCipher(settings.secret_keys) if settings.secret_keys else None,
        )
        # Capacity slots are leases the heartbeat renews: a SIGKILLed holder frees its slot once it
        # would count as a lost worker, instead of blocking the tenant for a fixed 3 minutes.
        lease_ms = int(settings.flowpilot_stale_heartbeat_s * 1000)

        def capacity(name: str, global_limit: int, tenant_limit: int) -> Capacity:
            return Capacity(res.redis, settings.flowpilot_redis_namespace, name, global_limit=global_limit,
                            tenant_limit=tenant_limit, ttl_ms=lease_ms,
                            wait_s=0)  # no free slot: the job is postponed, it waits in no worker thread

        res.llm_capacity = capacity("llm", settings.flowpilot_llm_max_concurrency,
                                    settings.flowpilot_llm_tenant_concurrency)
        res.psa_capacity = capacity("psa", settings.flowpilot_psa_max_concurrency,
                                    settings.flowpilot_psa_tenant_concurrency)
        return res

    def set_worker_threads(self, threads: int) -> None:
        """Once the worker knows its thread count: cap each tenant's PSA calls to their share of it."""
        self.psa_share = TenantThreadShare.of_threads(threads, self.settings.flowpilot_psa_tenant_thread_share)

    @property
    def namespace(self) -> str:
        return self.settings.flowpilot_redis_namespace

    def dispose(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.http.close()
        self.dispatcher.close()
        self.redis.close()
        dispose_engines(self.engine)


_current: Resources | None = None


def install(resources: Resources | None) -> None:
    global _current
    _current = resources


def current() -> Resources:
    if _current is None:
        raise RuntimeError("worker resources not initialised (WorkerResources middleware not booted)")
    return _current
