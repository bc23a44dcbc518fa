"""Shared fixtures: a throwaway migrated database, a private Redis namespace, the app, workers."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest
from cryptography.fernet import Fernet
from dramatiq import Worker
from flask import Flask
from flask.testing import FlaskClient

from db.engine import SYSTEM, transaction
from db.migrate import upgrade
from db.models import Account, ApiToken, User
from shared.security.tokens import display_prefix, generate_token, hash_token
from shared.settings import Settings
from tests.helpers import clear_redis_namespace, truncate_tenant_tables

ADMIN_URL = os.environ.get("FLOWPILOT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FLOWPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
APP_ROLE = "fp_test_app"
OWNER_ROLE = "fp_test_owner"


def _url_for(role: str, dbname: str) -> str:
    base = psycopg2.extensions.parse_dsn(ADMIN_URL)
    host, port = base.get("host", "127.0.0.1"), base.get("port", "5432")
    return f"postgresql://{role}@{host}:{port}/{dbname}"


def _admin_exec(*statements: str, dbname: str | None = None) -> None:
    dsn = ADMIN_URL if dbname is None else ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
    finally:
        conn.close()


def _ensure_role(role: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            try:
                cur.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE')
            except psycopg2.errors.DuplicateObject:
                pass
    conn.close()


@pytest.fixture(scope="session")
def database() -> Iterator[dict[str, str]]:
    """A fresh database per test run, migrated by the owner role; the app connects as a plain role."""
    name = f"fp_test_{uuid.uuid4().hex[:10]}"
    _ensure_role(APP_ROLE)
    _ensure_role(OWNER_ROLE)
    _admin_exec(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    _admin_exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC", f'ALTER SCHEMA public OWNER TO "{OWNER_ROLE}"', dbname=name)
    urls = {"name": name, "app": _url_for(APP_ROLE, name), "owner": _url_for(OWNER_ROLE, name)}
    upgrade(
        Settings(database_url=urls["app"], flowpilot_migration_database_url=urls["owner"]),
    )
    yield urls
    _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        redis_url=REDIS_URL,
        flowpilot_redis_namespace=namespace,
        flowpilot_secret_keys=secret_key,
        flowpilot_psa_allowed_hosts="127.0.0.1",
        flowpilot_heartbeat_interval_s=0.5,
        flowpilot_stale_heartbeat_s=3.0,
        flowpilot_redispatch_after_s=60.0,
        flowpilot_backoff_base_s=0.2,
        flowpilot_backoff_max_s=2.0,
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


@dataclass
class Tenant:
    account_id: uuid.UUID
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def h(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def _make_user(db: Any, account_id: uuid.UUID | None, role: str | None) -> tuple[uuid.UUID, str]:
    user = User(
        id=uuid.uuid4(),
        account_id=account_id,
        email=f"{role or 'op'}-{uuid.uuid4().hex[:6]}@example.test",
        role=role,
        is_operator=account_id is None,
    )
    db.add(user)
    db.flush()
    token = generate_token()
    db.add(
        ApiToken(
            id=uuid.uuid4(),
            account_id=account_id,
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=display_prefix(token),
        )
    )
    return user.id, token


@pytest.fixture
def make_tenant(engine: Any) -> Any:
    def make(name: str = "Acme MSP") -> Tenant:
        with transaction(engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            tenant = Tenant(account.id)
            for role in ("l1", "engineer", "admin", "owner"):
                tenant.user_ids[role], tenant.tokens[role] = _make_user(db, account.id, role)
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
        _, token = _make_user(db, None, None)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def worker(settings: Settings) -> Iterator[Worker]:
    """Real Dramatiq worker threads on real Redis, in this process."""
    with _start_worker(settings) as w:
        yield w


@contextmanager
def _start_worker(settings: Settings, threads: int = 4, pools: dict[str, int] | None = None) -> Iterator[Worker]:
    """Worker threads on all queues, or separate pools per queue (like the Procfile) with `pools`."""
    import dramatiq

    from workers import resources as resources_mod
    from workers.broker import build_broker, register_actors
    from workers.heartbeat import Heartbeat
    from workers.resources import Resources

    broker = build_broker(settings, with_resources=False)
    dramatiq.set_broker(broker)
    register_actors(broker)
    res = Resources.create(settings)
    res.heartbeat = Heartbeat(res, settings.flowpilot_heartbeat_interval_s, broker_id=broker.broker_id)
    res.heartbeat.start()
    resources_mod.install(res)
    if pools:
        extra = [Worker(broker, queues={q}, worker_threads=n, worker_timeout=100) for q, n in pools.items()]
        for e in extra:
            e.start()
        yield extra[0]
        for e in extra:
            e.stop()
        broker.close()
        resources_mod.install(None)
        res.dispose()
        return
    w = Worker(broker, worker_threads=threads, worker_timeout=100)
    w.start()
    yield w
    w.stop()
    broker.close()
    resources_mod.install(None)
    res.dispose()


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
def llm_worker(llm_settings: Settings) -> Iterator[Worker]:
    with _start_worker(llm_settings) as w:
        yield w


@pytest.fixture
def cw_sim() -> Iterator[Any]:
    from tests.fakes.cw_simulator import CwSimulator

    with CwSimulator() as sim:
        yield sim


@pytest.fixture
def psa_settings(settings: Settings) -> Settings:
    """Short PSA timeouts so the lost-response faults resolve quickly."""
    return settings.model_copy(update={"flowpilot_psa_timeout_s": 1.0})


@pytest.fixture
def psa_worker(psa_settings: Settings) -> Iterator[Worker]:
    with _start_worker(psa_settings) as w:
        yield w
