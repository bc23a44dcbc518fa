"""A supervisor for the real processes (gunicorn, dramatiq workers, clock) and the worker killer."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from tests.chaos.services import PY, ROOT, TIMINGS, free_port, wait_until  # noqa: F401
from tests.fakes.service import Service


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
    system_url: str
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
            "FLOWPILOT_SYSTEM_DATABASE_URL": self.system_url,
            "REDIS_URL": self.redis_url,
            "FLOWPILOT_REDIS_NAMESPACE": self.namespace,
            "FLOWPILOT_SECRET_KEYS": self.secret_key,
            "FLOWPILOT_PSA_ALLOWED_HOSTS": "127.0.0.1:*",
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
        self.web = Proc("web", [PY, "-m", "gunicorn", "-c", "python:web.gunicorn_conf", "--bind", f"127.0.0.1:{self.port}",
                                "--workers", "2", "--graceful-timeout", "5", "web:create_app()"], env, log_dir)
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


class WorkerKiller(Service):
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

    def start(self) -> WorkerKiller:
        self._thread.start()
        return self

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
