"""Process-wide resources of the web app (engine, Redis, dispatcher), made once in the factory."""
from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from sqlalchemy import Engine

from db.engine import dispose_engines, make_engines
from shared.jobs.dispatch import Dispatcher
from shared.jobs.notify import MAX_WAIT_S, JobWaiters
from shared.jobs.wait_cap import WaitCap
from shared.pubsub import Listener
from shared.security.crypto import CredentialCipher
from shared.security.login_throttle import LoginLimits, LoginThrottle
from shared.settings import Settings
from web.auth_cache import PrincipalCache


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    dispatcher: Dispatcher
    cipher: CredentialCipher | None
    listener: Listener
    waiters: JobWaiters
    wait_cap: WaitCap
    principals: PrincipalCache
    login_throttle: LoginThrottle

    @property
    def namespace(self) -> str:
        return self.settings.flowpilot_redis_namespace

    def dispose(self) -> None:
        self.listener.stop()
        self.dispatcher.close()
        self.redis.close()
        dispose_engines(self.engine)


def build_state(settings: Settings) -> AppState:
    """Every handler is registered on the listener here, before its thread starts (on first use)."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30)
    namespace = settings.flowpilot_redis_namespace
    listener = Listener(client)
    return AppState(
        settings=settings,
        engine=make_engines(settings.database_url, settings.flowpilot_system_database_url,
                            pool_size=settings.flowpilot_db_pool_size),
        redis=client,
        dispatcher=Dispatcher.from_url(settings.redis_url, namespace),
        cipher=CredentialCipher(settings.secret_keys) if settings.secret_keys else None,
        listener=listener,
        waiters=JobWaiters(listener, namespace),
        wait_cap=WaitCap(client, namespace, limit=settings.flowpilot_max_waits_per_token, max_wait_s=MAX_WAIT_S),
        principals=PrincipalCache(listener, namespace, ttl_s=settings.flowpilot_auth_cache_s),
        login_throttle=LoginThrottle(client, namespace, LoginLimits(
            per_email=settings.flowpilot_login_max_failures_per_email,
            per_address=settings.flowpilot_login_max_failures_per_address,
            window_s=settings.flowpilot_login_failure_window_s,
        )),
    )


def init_app(app: Flask, state: AppState) -> None:
    app.extensions["flowpilot"] = state


def state() -> AppState:
    st: AppState = current_app.extensions["flowpilot"]
    return st
