"""Process-wide resources of the web app (engine, Redis, dispatcher), made once in the factory."""
from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from sqlalchemy import Engine

from db.engine import make_engine
from shared.jobs.dispatch import Dispatcher
from shared.security.crypto import CredentialCipher
from shared.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    dispatcher: Dispatcher
    cipher: CredentialCipher | None

    @property
    def namespace(self) -> str:
        return self.settings.flowpilot_redis_namespace

    def dispose(self) -> None:
        self.dispatcher.close()
        self.redis.close()
        self.engine.dispose()


def build_state(settings: Settings) -> AppState:
    return AppState(
        settings=settings,
        engine=make_engine(settings.database_url),
        redis=redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30),
        dispatcher=Dispatcher.from_url(settings.redis_url, settings.flowpilot_redis_namespace),
        cipher=CredentialCipher(settings.secret_keys) if settings.secret_keys else None,
    )


def init_app(app: Flask, state: AppState) -> None:
    app.extensions["flowpilot"] = state


def state() -> AppState:
    st: AppState = current_app.extensions["flowpilot"]
    return st
