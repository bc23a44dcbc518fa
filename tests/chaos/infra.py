"""Chaos infrastructure: free ports, private Redis / Postgres, a supervisor for the real processes.

Nothing here touches the machine's shared Postgres (127.0.0.1:5432) or Redis (127.0.0.1:6379)
beyond what tests/conftest.py already does (a throwaway database, Redis db 15 under an own
namespace). Faults that kill a server are only ever aimed at the private instances started here.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
T = TypeVar("T")

# Fast failure detection for the chaos runs (the README defaults are 5 / 30 / 60 / 5 s).
TIMINGS = {
    "FLOWPILOT_HEARTBEAT_INTERVAL_S": "0.5",
    "FLOWPILOT_STALE_HEARTBEAT_S": "3",
    "FLOWPILOT_REDISPATCH_AFTER_S": "5",
    "FLOWPILOT_SWEEP_INTERVAL_S": "0.5",
    "FLOWPILOT_BACKOFF_BASE_S": "0.2",
    "FLOWPILOT_BACKOFF_MAX_S": "2",
    "FLOWPILOT_PSA_TIMEOUT_S": "5",
}


# --------------------------------------------------------------------------- small helpers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy (returned); exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a server being down is exactly what we wait out
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached after {timeout}s (last error: {last_exc!r})")
        time.sleep(interval)


def _as_pg_user(argv: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def pg_bindir() -> Path:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")


# --------------------------------------------------------------------------- private Redis

class PrivateRedis:
    """A throwaway redis-server on a free loopback port (no persistence): kill it, start it empty."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fpchaos-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_until(lambda: self.client().ping(), timeout=10, what=f"private redis on {self.port}")
        return self

    def shutdown_nosave(self) -> None:
        """SHUTDOWN NOSAVE: every queued message is gone, as after a crash of a cache-only Redis."""
        try:
            self.client().execute_command("SHUTDOWN", "NOSAVE")
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the server closes the connection instead of answering
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- private Postgres

APP_ROLE = "fp_test_app"
OWNER_ROLE = "fp_test_owner"


class PrivatePostgres:
    """A throwaway cluster (initdb, trust auth) on a free port, which we may restart at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bindir = pg_bindir()
        self.home = Path(tempfile.mkdtemp(prefix="fpchaos-pg-", dir="/tmp"))
        self.data = self.home / "data"
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        os.chmod(self.home, 0o700)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, role: str, dbname: str) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(_as_pg_user(list(argv)), cwd="/", check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PrivatePostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self._pg_start()
        return self

    def _pg_start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "postgres.log"), "-w",
                  "-t", "60", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home} "
                  "-c max_connections=200", "start")

    def restart_immediate(self, downtime_s: float = 0.0) -> float:
        """`pg_ctl -m immediate restart`: no checkpoint, every connection cut (crash recovery on start).

        With `downtime_s`, stop immediately, stay down that long, then start. Returns the outage in seconds.
        """
        started = time.monotonic()
        if downtime_s <= 0:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "postgres.log"),
                      "-m", "immediate", "-w", "-t", "60", "restart")
        else:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            time.sleep(downtime_s)
            self._pg_start()
        return time.monotonic() - started

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def create_database(self, name: str = "fpchaos") -> dict[str, str]:
        """Roles and a database laid out like tests/conftest.py's, migrated by the owner role."""
        from db.migrate import upgrade
        from shared.settings import Settings

        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            for role in (APP_ROLE, OWNER_ROLE):
                cur.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE')
            cur.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
        conn.close()
        conn = psycopg2.connect(self.url("postgres", name))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            cur.execute(f'ALTER SCHEMA public OWNER TO "{OWNER_ROLE}"')
        conn.close()
        urls = {"name": name, "app": self.url(APP_ROLE, name), "owner": self.url(OWNER_ROLE, name),
                "admin": self.url("postgres", name)}
        upgrade(Settings(database_url=urls["app"], flowpilot_migration_database_url=urls["owner"]))
        return urls


# --------------------------------------------------------------------------- processes

def _proc_table() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, pgrp, state) of every process, from /proc (no psutil in our dependencies)."""
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        rows.append((int(entry), int(rest[1]), int(rest[2]), rest[0]))
    return rows


class Proc:
    """One supervised command in its own process group (so a dead parent's children can be found)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._old_groups: list[int] = []

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        log.write(f"\n===== start #{self.starts + 1} {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group(self, pgrp: int | None = None) -> list[int]:
        """Live (non-zombie) processes of the group: the leader and whatever it forked."""
        pgrp = pgrp if pgrp is not None else (self.proc.pid if self.proc else -1)
        return [pid for pid, _ppid, grp, state in _proc_table() if grp == pgrp and state not in ("Z", "X")]

    def children(self) -> list[int]:
        return [pid for pid in self.group() if self.proc is None or pid != self.proc.pid]

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill_hard(self) -> None:
        """SIGKILL the whole group: the parent and its children, no goodbye."""
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self._reap(self.pid)

    def _reap(self, pgrp: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.group(pgrp) and time.monotonic() < deadline:
            for pid in self.group(pgrp):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the group, wait, then SIGKILL whatever is left (including orphans)."""
        if self.proc is None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait()
        self._reap(self.proc.pid)
        self.proc = None

    def restart(self) -> Proc:
        if self.proc is not None:
            self._reap(self.proc.pid)
            self.proc = None
        return self.start()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class StackConfig:
    """Where the real processes connect to, and the chaos timings."""

    database_url: str
    owner_url: str
    redis_url: str
    namespace: str
    secret_key: str
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FLOWPILOT_", "ANTHROPIC_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(TIMINGS)
        env.update({
            "DATABASE_URL": self.database_url,
            "FLOWPILOT_MIGRATION_DATABASE_URL": self.owner_url,
            "REDIS_URL": self.redis_url,
            "FLOWPILOT_REDIS_NAMESPACE": self.namespace,
            "FLOWPILOT_SECRET_KEYS": self.secret_key,
            "FLOWPILOT_PSA_ALLOWED_HOSTS": "127.0.0.1",
            "FLOWPILOT_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        })
        env.update(self.extra)
        return env


class Stack:
    """web (gunicorn), workers (dramatiq), clock (the sweeper loop): the Procfile, for real.

    `worker_commands` > 1 runs several independent `dramatiq workers.main` commands (as several
    hosts or containers would), so killing one leaves the others working.
    """

    def __init__(self, config: StackConfig, log_dir: Path, *, worker_commands: int = 1, worker_processes: int = 2,
                 worker_threads: int = 4) -> None:
        self.config = config
        self.port = free_port()
        env = config.env()
        self.web = Proc("web", [PY, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread",
                                "--workers", "2", "--threads", "8", "--timeout", "60", "--graceful-timeout", "5",
                                "web:create_app()"], env, log_dir)
        self.worker_procs = [
            Proc(f"workers-{i}", [PY, "-m", "dramatiq", "workers.main", "--processes", str(worker_processes),
                                  "--threads", str(worker_threads), "--worker-shutdown-timeout", "5000"], env, log_dir)
            for i in range(worker_commands)
        ]
        self.clock = Proc("clock", [PY, "-m", "flask", "--app", "web", "jobs", "sweep", "--loop"], env, log_dir)
        self.worker_processes = worker_processes
        self.log_dir = log_dir

    @property
    def workers(self) -> Proc:
        return self.worker_procs[0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        self.web.start()
        wait_until(lambda: requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200,
                   timeout=60, what="gunicorn /healthz")

    def start_workers(self, *, wait_ready: bool = True) -> None:
        for proc in self.worker_procs:
            proc.start()
        if wait_ready:
            self.wait_workers_ready()

    def presence(self) -> set[int]:
        """Pids of worker processes that have booted (their heartbeat presence key is in Redis)."""
        client = redis.Redis.from_url(self.config.redis_url, socket_timeout=5)
        try:
            return {int(k.decode().rsplit(":", 1)[-1]) for k in client.scan_iter(f"{self.config.namespace}:workers:*")}
        finally:
            client.close()

    def booted(self, proc: Proc, present: set[int] | None = None) -> list[int]:
        """The command's children that are ready for work."""
        present = self.presence() if present is None else present
        return [pid for pid in proc.children() if pid in present]

    def wait_workers_ready(self, timeout: float = 60) -> None:
        """Ready = every child of every worker command has booted its resources (heartbeat presence key)."""
        def ready() -> bool:
            present = self.presence()
            for proc in self.worker_procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n" + proc.tail())
                if len(self.booted(proc, present)) < self.worker_processes:
                    return False
            return True

        wait_until(ready, timeout=timeout, interval=0.1, what="dramatiq workers ready")

    def start_clock(self) -> None:
        self.clock.start()

    def start_all(self) -> None:
        self.start_web()
        self.start_clock()
        self.start_workers()

    def stop_all(self) -> None:
        for proc in (*self.worker_procs, self.clock, self.web):
            proc.stop()

    def diagnostics(self) -> str:
        return "\n".join(f"--- {p.name} (starts={p.starts}) ---\n{p.tail(30)}"
                         for p in (self.web, *self.worker_procs, self.clock))


@contextmanager
def running_stack(config: StackConfig, log_dir: Path, *, start: bool = True, **kw: Any) -> Iterator[Stack]:
    stack = Stack(config, log_dir, **kw)
    try:
        if start:
            stack.start_all()
        yield stack
    finally:
        stack.stop_all()


class WorkerKiller:
    """Every 200-500 ms SIGKILL one random booted worker process; restart a command once it is down.

    Victims are a booted child (the dramatiq parent then stops its other children and exits) or a
    parent whose children have booted (we SIGKILL its whole group, as a host or container crash
    would). A command that is still booting is spared, so work keeps flowing between kills; when
    nothing has booted the tick is skipped. The supervisor restarts every command that is down, as
    systemd or Kubernetes would.
    """

    def __init__(self, stack: Stack, *, interval: tuple[float, float] = (0.2, 0.5), seed: int | None = None) -> None:
        self.stack = stack
        self.interval = interval
        self.rng = random.Random(seed)
        self.kills = {"child": 0, "parent": 0}
        self.restarts = 0
        self.skipped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-killer", daemon=True)
        self.errors: list[BaseException] = []

    @property
    def total(self) -> int:
        return self.kills["child"] + self.kills["parent"]

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _ensure_running(self) -> None:
        for proc in self.stack.worker_procs:
            if not proc.alive():
                proc.restart()
                self.restarts += 1

    def _tick(self) -> None:
        self._ensure_running()
        present = self.stack.presence()
        victims: list[tuple[Proc, int]] = []
        for proc in self.stack.worker_procs:
            booted = self.stack.booted(proc, present)
            victims += [(proc, pid) for pid in booted]
            if len(booted) >= self.stack.worker_processes:
                victims.append((proc, proc.pid))
        if not victims:
            self.skipped += 1
            return
        proc, victim = self.rng.choice(victims)
        if victim == proc.pid:
            proc.kill_hard()
            self.kills["parent"] += 1
            return
        try:
            os.kill(victim, signal.SIGKILL)
            self.kills["child"] += 1
        except ProcessLookupError:
            pass

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(*self.interval)):
                self._tick()
            # Leave healthy workers behind: let a parent that lost a child finish exiting, then restart.
            for proc in self.stack.worker_procs:
                if proc.alive() and len(proc.children()) < self.stack.worker_processes:
                    try:
                        proc.proc.wait(timeout=15)  # type: ignore[union-attr]
                    except subprocess.TimeoutExpired:
                        proc.kill_hard()
            self._ensure_running()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            self.errors.append(exc)


# --------------------------------------------------------------------------- tenants and HTTP

@dataclass
class TenantTokens:
    account_id: uuid.UUID
    tokens: dict[str, str]
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def h(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def make_tenant(app_url: str, name: str = "Chaos MSP") -> TenantTokens:
    """An account with admin and engineer users, written as the system scope (like tests/conftest.py)."""
    from db.engine import SYSTEM, make_engine, transaction
    from db.models import Account
    from tests.conftest import _make_user

    engine = make_engine(app_url, pool_size=1, max_overflow=0)
    try:
        with transaction(engine, SYSTEM) as db:
            account = Account(id=uuid.uuid4(), name=name)
            db.add(account)
            db.flush()
            tenant = TenantTokens(account.id, {})
            for role in ("admin", "engineer"):
                tenant.user_ids[role], tenant.tokens[role] = _make_user(db, account.id, role)
        return tenant
    finally:
        engine.dispose()


_local = threading.local()


def http() -> requests.Session:
    """One keep-alive session per thread."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def fetch_jobs(admin_db_url: str, job_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Job rows read as the superuser (RLS does not apply), keyed by id."""
    conn = psycopg2.connect(admin_db_url)
    try:
        with conn.cursor() as cur:
            cols = "id, kind, status, attempts, max_attempts, payload, result, error, steps, claim_token, finished_at, session_id"
            if job_ids is None:
                cur.execute(f"SELECT {cols} FROM jobs")
            else:
                cur.execute(f"SELECT {cols} FROM jobs WHERE id = ANY(%s::uuid[])", (job_ids,))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
    for row in rows:
        row["id"] = str(row["id"])
    return {row["id"]: row for row in rows}


TERMINAL = ("succeeded", "failed", "cancelled")


def wait_terminal(admin_db_url: str, job_ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
    """Wait (bounded) until every job is terminal; return the rows either way (the caller counts stuck)."""
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while True:
        try:
            rows = fetch_jobs(admin_db_url, job_ids)
        except psycopg2.OperationalError:
            rows = rows or {}
        else:
            if len(rows) == len(job_ids) and all(r["status"] in TERMINAL for r in rows.values()):
                return rows
        if time.monotonic() >= deadline:
            return rows
        time.sleep(0.25)
