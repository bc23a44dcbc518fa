"""Private Redis and Postgres instances for the chaos runs, and the small helpers they need.

Faults that kill a server are only ever aimed at these instances, never at the machine's shared
Postgres (127.0.0.1:5432) or Redis (127.0.0.1:6379).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg2
import redis

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
T = TypeVar("T")

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
SYSTEM_ROLE = "fp_test_system"


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
            for role in (APP_ROLE, OWNER_ROLE, SYSTEM_ROLE):
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
                "system": self.url(SYSTEM_ROLE, name),
                "admin": self.url("postgres", name)}
        upgrade(Settings(database_url=urls["app"], flowpilot_migration_database_url=urls["owner"],
                         flowpilot_system_database_url=urls["system"]))
        return urls


# --------------------------------------------------------------------------- processes

