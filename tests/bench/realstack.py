"""The deployment's processes for benchmarks: a throwaway database, gunicorn (gthread) and `dramatiq workers.main`
as real subprocesses (Procfile topology), configured through the environment exactly like a deployment.

Unlike harness.stack (in-process werkzeug server + in-process worker threads), every figure measured here
crosses real process boundaries: the web's GIL, the workers' GIL and the client's GIL are separate.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select

from db.engine import SYSTEM, dispose_engines, make_engines, transaction
from db.migrate import upgrade
from shared.settings import Settings
from tests.bench import procstat
from tests.bench.harness import UNREACHED_RATE_LIMIT
from tests.helpers import (
    APP_ROLE,
    OWNER_ROLE,
    REDIS_URL,
    SYSTEM_ROLE,
    Tenant,
    admin_exec,
    ensure_role,
    make_user,
    url_for,
)

ROOT = Path(__file__).resolve().parents[2]
LOWPRIO = ROOT / "scripts" / "lowprio"  # the Procfile's way of lowering a pool's CPU priority


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The same configuration as environment variables (as tests/conftest.py settings_env does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWPILOT_", "ANTHROPIC_", "dramatiq_"))}
    for key, value in settings.model_dump().items():
        if value is None:
            continue
        env[key.upper()] = str(value)
    env.update(extra)
    return env


def web_command(port: int, server: str = "gevent", workers: int = 2, threads: int = 16) -> list[str]:
    """The Procfile's web command (web/gunicorn_conf.py: gevent workers); `server="gthread"` is the serving
    model before issue 14 (2 x 16 threads), kept for side-by-side figures."""
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--graceful-timeout", "10"]
    if server == "gthread":
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    return [*cmd, "web:create_app()"]


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@dataclass
class RealStack:
    settings: Settings
    env: dict[str, str]
    db_name: str
    base_url: str
    engine: Engine
    log_dir: Path
    processes: int
    threads: int
    web_workers: int
    web_threads: int
    server: str = "gevent"
    gunicorn: subprocess.Popen[bytes] | None = None
    workers: subprocess.Popen[bytes] | None = None
    batch: subprocess.Popen[bytes] | None = None
    extra_worker_env: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ processes
    def start_web(self) -> None:
        port = int(self.base_url.rsplit(":", 1)[1])
        cmd = web_command(port, self.server, self.web_workers, self.web_threads)
        self.gunicorn = subprocess.Popen(cmd, cwd=ROOT, env=self.env, start_new_session=True,
                                         stdout=open(self.log_dir / "gunicorn.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log_dir / 'gunicorn.log'}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200 and \
                        len(procstat.children(self.gunicorn.pid)) >= self.web_workers:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("gunicorn did not become healthy")

    def start_workers(self, nice: int = 0, **extra_env: str) -> None:
        self.extra_worker_env = dict(extra_env)
        cmd = [sys.executable, "-m", "dramatiq", "workers.main", "--processes", str(self.processes),
               "--threads", str(self.threads), "--queues", "interactive", "--worker-shutdown-timeout", "10000"]
        if nice:
            cmd = [str(LOWPRIO), str(nice), *cmd]
        self.workers = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **extra_env}, start_new_session=True,
                                        stdout=open(self.log_dir / "workers.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(self.worker_pids()) < self.processes:
            if self.workers.poll() is not None:
                raise RuntimeError(f"dramatiq exited: see {self.log_dir / 'workers.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError("dramatiq workers did not start")
            time.sleep(0.2)

    def start_batch(self, *, processes: int = 1, threads: int = 4, nice: int = 0, **extra_env: str) -> None:
        """The Procfile's `batch` process: its own pool on the batch queue, `nice` as the Procfile sets it."""
        cmd = [sys.executable, "-m", "dramatiq", "workers.main", "--processes", str(processes), "--threads",
               str(threads), "--queues", "batch", "--worker-shutdown-timeout", "10000"]
        if nice:
            cmd = [str(LOWPRIO), str(nice), *cmd]
        self.batch = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **extra_env}, start_new_session=True,
                                      stdout=open(self.log_dir / "batch.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(procstat.children(self.batch.pid)) < processes:
            if self.batch.poll() is not None:
                raise RuntimeError(f"dramatiq (batch) exited: see {self.log_dir / 'batch.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError("dramatiq batch workers did not start")
            time.sleep(0.2)

    def stop_workers(self) -> None:
        stop_process(self.workers)
        self.workers = None
        self.stop_batch()

    def stop_batch(self) -> None:
        stop_process(self.batch)
        self.batch = None

    def stop_web(self) -> None:
        stop_process(self.gunicorn)
        self.gunicorn = None

    def web_pids(self) -> list[int]:
        """The gunicorn worker processes (they serve requests; the master only supervises)."""
        return procstat.children(self.gunicorn.pid) if self.gunicorn else []

    def worker_pids(self) -> list[int]:
        """The dramatiq worker processes (children of the dramatiq master)."""
        return procstat.children(self.workers.pid) if self.workers else []

    def cpu_groups(self) -> dict[str, Any]:
        redis_port = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))
        me = os.getpid()
        return {
            "bench clients (this process)": lambda: [me],
            "gunicorn (web)": lambda: procstat.tree(self.gunicorn.pid) if self.gunicorn else [],
            "dramatiq (workers)": lambda: procstat.tree(self.workers.pid) if self.workers else [],
            "dramatiq (batch pool)": lambda: procstat.tree(self.batch.pid) if self.batch else [],
            "postgres backends (bench db)": lambda: procstat.postgres_backends(self.db_name),
            "redis-server": lambda: procstat.redis_servers(redis_port),
        }

    # ------------------------------------------------------------------ data
    def tenant(self, name: str = "Bench MSP", engineers: int = 1) -> Tenant:
        """An account with an admin and `engineers` engineer users (tokens "engineer", "engineer2", ...)."""
        from db.models import Account

        with transaction(self.engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            t = Tenant(account.id)
            t.user_ids["admin"], t.tokens["admin"] = make_user(db, account.id, "admin")
            for i in range(engineers):
                label = "engineer" if i == 0 else f"engineer{i + 1}"
                t.user_ids[label], t.tokens[label] = make_user(db, account.id, "engineer")
        return t

    def count_jobs(self, status: str | None = None) -> int:
        from db.models import Job

        q = select(func.count()).select_from(Job)
        if status:
            q = q.where(Job.status == status)
        with transaction(self.engine, SYSTEM) as db:
            return int(db.execute(q).scalar_one())

    def status_counts(self) -> dict[str, int]:
        from db.models import Job

        with transaction(self.engine, SYSTEM) as db:
            return {s: int(n) for s, n in db.execute(select(Job.status, func.count()).group_by(Job.status)).all()}


@contextmanager
def real_stack(*, processes: int = 2, threads: int = 8, web_workers: int = 2, web_threads: int = 16,
               log_level: str = "WARNING", start: bool = True, worker_env: dict[str, str] | None = None,
               server: str = "gevent", **overrides: Any) -> Iterator[RealStack]:
    """Create, migrate and serve a throwaway database; start web and workers; tear it all down after."""
    name = f"fp_bench_{uuid.uuid4().hex[:8]}"
    for role in (APP_ROLE, OWNER_ROLE, SYSTEM_ROLE):
        ensure_role(role)
    admin_exec(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    namespace = f"fpbench-{uuid.uuid4().hex[:6]}"
    log_dir = ROOT / "tests" / "bench" / "results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for f in ("gunicorn.log", "workers.log", "batch.log"):
        (log_dir / f).write_bytes(b"")
    engine = None
    st: RealStack | None = None
    try:
        admin_exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC", f'ALTER SCHEMA public OWNER TO "{OWNER_ROLE}"',
                    dbname=name)
        settings = Settings(
            database_url=url_for(APP_ROLE, name),
            flowpilot_migration_database_url=url_for(OWNER_ROLE, name),
            flowpilot_system_database_url=url_for(SYSTEM_ROLE, name),
            redis_url=REDIS_URL,
            flowpilot_redis_namespace=namespace,
            flowpilot_secret_keys=Fernet.generate_key().decode(),
            flowpilot_psa_allowed_hosts="127.0.0.1:*",
            flowpilot_log_level=log_level,
            **{"flowpilot_tenant_rate_limit": UNREACHED_RATE_LIMIT, **overrides},
        )
        upgrade(settings)
        engine = make_engines(settings.database_url, settings.flowpilot_system_database_url, pool_size=4,
                              max_overflow=4)
        st = RealStack(settings, settings_env(settings), name, f"http://127.0.0.1:{free_port()}", engine, log_dir,
                       processes, threads, web_workers, web_threads, server)
        if start:
            st.start_web()
            st.start_workers(**(worker_env or {}))
        yield st
    finally:
        if st is not None:
            st.stop_workers()
            st.stop_web()
        if engine is not None:
            dispose_engines(engine)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
