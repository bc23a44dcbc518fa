"""Per-process resources, created once at worker boot and disposed at shutdown."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import requests
from sqlalchemy import Engine

from db.engine import make_engine
from shared.capacity import Capacity
from shared.jobs.dispatch import Dispatcher
from shared.llm.factory import build_generator
from shared.llm.generator import Generator
from shared.security.crypto import CredentialCipher
from shared.settings import Settings

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
    heartbeat: Heartbeat | None = None  # once the process has booted

    @classmethod
    def create(cls, settings: Settings) -> Resources:
        res = cls(
            settings=settings,
            engine=make_engine(settings.database_url, pool_size=settings.flowpilot_db_pool_size, max_overflow=8),
            redis=redis.Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=30),
            dispatcher=Dispatcher.from_url(settings.redis_url, settings.flowpilot_redis_namespace),
            http=requests.Session(),
            generator=build_generator(settings),
            cipher=CredentialCipher(settings.secret_keys) if settings.secret_keys else None,
        )
        # Capacity slots are leases the heartbeat renews: a SIGKILLed holder frees its slot once it
        # would count as a lost worker, instead of blocking the tenant for a fixed 3 minutes.
        lease_ms = int(settings.flowpilot_stale_heartbeat_s * 1000)
        res.llm_capacity = Capacity(
            res.redis,
            settings.flowpilot_redis_namespace,
            "llm",
            global_limit=settings.flowpilot_llm_max_concurrency,
            tenant_limit=settings.flowpilot_llm_tenant_concurrency,
            wait_s=0,  # no free slot: the job is postponed, it does not wait in a worker thread
            ttl_ms=lease_ms,
        )
        res.psa_capacity = Capacity(
            res.redis,
            settings.flowpilot_redis_namespace,
            "psa",
            global_limit=settings.flowpilot_psa_max_concurrency,
            tenant_limit=settings.flowpilot_psa_tenant_concurrency,
            wait_s=0,
            ttl_ms=lease_ms,
        )
        return res

    @property
    def namespace(self) -> str:
        return self.settings.flowpilot_redis_namespace

    def dispose(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.http.close()
        self.dispatcher.close()
        self.redis.close()
        self.engine.dispose()


_current: Resources | None = None


def install(resources: Resources | None) -> None:
    global _current
    _current = resources


def current() -> Resources:
    if _current is None:
        raise RuntimeError("worker resources not initialised (WorkerResources middleware not booted)")
    return _current
