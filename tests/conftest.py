"""Shared fixtures: a throwaway migrated database, a private Redis namespace, the app, workers."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from dramatiq import Worker
from flask import Flask
from flask.testing import FlaskClient

from db.engine import SYSTEM, transaction
from db.models import Account
from shared.settings import Settings
from tests.helpers import (
    REDIS_URL,
    Tenant,
    admin_exec,
    clear_redis_namespace,
    create_database,
    make_user,
    start_worker,
    truncate_tenant_tables,
)


@pytest.fixture(scope="session")
def database() -> Iterator[dict[str, str]]:
    """A fresh database per test run, migrated by the owner role; the app connects as a plain role."""
    urls = create_database("fp_test")
    name = urls["name"]
    yield urls
    admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def namespace() -> str:
    return f"fptest-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def settings(database: dict[str, str], secret_key: str, namespace: str) -> Settings:
    return Settings(
        database_url=database["app"],
        flowpilot_migration_database_url=database["owner"],
        flowpilot_system_database_url=database["system"],
        redis_url=REDIS_URL,
        flowpilot_redis_namespace=namespace,
        flowpilot_secret_keys=secret_key,
        flowpilot_psa_allowed_hosts="127.0.0.1:*",
        flowpilot_heartbeat_interval_s=0.5,
        flowpilot_stale_heartbeat_s=3.0,
        flowpilot_redispatch_after_s=60.0,
        flowpilot_backoff_base_s=0.2,
        flowpilot_backoff_max_s=2.0,
        flowpilot_metrics_cache_s=0.0,  # tests read counters before and after a job; the cache test sets its own
        # In-process tests send a few hundred requests a second as one tenant; only tests/web/test_fairness.py
        # (its own apps, small limits) is about the tenant rate limit.
        flowpilot_tenant_rate_limit="100000/minute",
    )


@pytest.fixture(scope="session")
def settings_env(settings: Settings) -> dict[str, str]:
    """The same configuration as environment variables, for real subprocesses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWPILOT_", "ANTHROPIC_"))}
    for key, value in settings.model_dump().items():
        if value is None:
            continue
        env[key.upper()] = str(value)
    return env


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "database" in request.fixturenames:
        truncate_tenant_tables(request.getfixturevalue("database")["owner"])
    if "namespace" in request.fixturenames:
        clear_redis_namespace(REDIS_URL, request.getfixturevalue("namespace"))


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    from web import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["flowpilot"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def engine(app: Flask) -> Any:
    return app.extensions["flowpilot"].engine


@pytest.fixture
def make_tenant(engine: Any) -> Any:
    def make(name: str = "Acme MSP") -> Tenant:
        with transaction(engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            tenant = Tenant(account.id)
            for role in ("l1", "engineer", "admin", "owner"):
                tenant.user_ids[role], tenant.tokens[role] = make_user(db, account.id, role)
        return tenant

    return make


@pytest.fixture
def tenant(make_tenant: Any) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(make_tenant: Any) -> Tenant:
    return make_tenant("Other MSP")


@pytest.fixture
def operator(engine: Any) -> dict[str, str]:
    with transaction(engine, SYSTEM) as db:
        _, token = make_user(db, None, None)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def worker(settings: Settings) -> Iterator[Worker]:
    """Real Dramatiq worker threads on real Redis, in this process."""
    with start_worker(settings) as w:
        yield w


@pytest.fixture
def anthropic_stub() -> Iterator[Any]:
    from tests.fakes.anthropic_stub import AnthropicStub

    with AnthropicStub() as stub:
        yield stub


@pytest.fixture
def llm_settings(settings: Settings, anthropic_stub: Any) -> Settings:
    """Settings whose generator is the real Anthropic SDK talking to the local stub."""
    return settings.model_copy(
        update={"anthropic_api_key": anthropic_stub.api_key, "anthropic_base_url": anthropic_stub.base_url,
                "flowpilot_llm_timeout_s": 5.0}
    )


@pytest.fixture
def fresh_codebases() -> Iterator[None]:
    """Forget the ConnectWise codebases discovered so far, before and after the test."""
    from shared.psa.connectwise import clear_codebase_cache

    clear_codebase_cache()
    yield
    clear_codebase_cache()


@pytest.fixture
def cw_sim() -> Iterator[Any]:
    from tests.fakes.cw_simulator import CwSimulator

    with CwSimulator() as sim:
        yield sim


@pytest.fixture
def llm_worker(llm_settings: Settings) -> Iterator[Worker]:
    with start_worker(llm_settings) as w:
        yield w


@pytest.fixture
def psa_settings(settings: Settings) -> Settings:
    """Short PSA timeouts so the lost-response faults resolve quickly."""
    return settings.model_copy(update={"flowpilot_psa_timeout_s": 1.0})


@pytest.fixture
def psa_worker(psa_settings: Settings) -> Iterator[Worker]:
    with start_worker(psa_settings) as w:
        yield w
