"""A suspect job's next attempt, alone in a child process: poison jobs are found out, bystanders are not blamed.

When a worker process dies, the sweeper cannot tell which of its jobs killed it (a memory blow-up, a segfault)
and which merely shared the process: each gets its attempt back and one crash counted
(`state_machine.rescue_stale`). A job with a crash runs its next attempt here. The worker thread that claimed
it starts `python -m workers.sandbox`, keeps the job's heartbeat and waits; the child runs the handler exactly
as a worker would (`runner.execute`) and records the outcome under the same claim. If the child dies instead,
that death is certainly the job's own: with the earlier one it is the second, and the job fails `worker_crashed`.
Nothing else ran in the child, so nothing else is charged, and the worker process lives on.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from sqlalchemy import Row, select

from db.engine import SYSTEM, Scope, tenant, transaction
from db.models.jobs import jobs_table
from shared.errors import TransientError
from shared.jobs import state_machine
from shared.settings import Settings
from workers.resources import Resources
from workers.runner import context_for, execute, finished, record_failure

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _child_env(settings: Settings) -> dict[str, str]:
    """The worker's own configuration, as the child's environment (it may not come from the environment)."""
    env = dict(os.environ)
    for key, value in settings.model_dump().items():
        if value is not None:
            env[key.upper()] = str(value)
    return env


def _wait(proc: subprocess.Popen[bytes]) -> int:
    while True:  # in slices, so the worker's time limit and shutdown can still interrupt this thread
        try:
            return proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            continue


def run_isolated(res: Resources, job: Row[Any], scope: Scope, token: uuid.UUID) -> None:
    """Run the attempt of a job we hold in a child process; a child that dies fails the job `worker_crashed`."""
    argv = [sys.executable, "-m", "workers.sandbox", str(job.id), str(token), str(job.account_id or ""),
            str(os.getpid())]
    heartbeat = res.heartbeat
    if heartbeat is not None:
        heartbeat.add(token)
    started = time.monotonic()
    # Its own session: signals aimed at the worker's process group are not for it; it dies with the worker.
    proc = subprocess.Popen(argv, env=_child_env(res.settings), stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        code = _wait(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if heartbeat is not None:
            heartbeat.discard(token)
    if code == 0:  # the child recorded the outcome itself (or found the job taken over)
        return
    ctx = context_for(res, job, scope, token)
    if code < 0:
        how = signal.Signals(-code).name
        error = {"code": "worker_crashed",
                 "message": f"the job killed the process it ran in ({how}), after a worker process had died under it",
                 "detail": {"signal": how, "crashes": job.crashes + 1}}
        with ctx.tx() as db:
            moved = state_machine.crashed(db, job.id, token, error)
        if moved:
            log.error("job %s (%s) failed worker_crashed: its isolated attempt died of %s", job.id, job.kind, how)
            finished(res, job.id, job.kind, "failed", time.monotonic() - started)
        return
    outcome = record_failure(ctx, TransientError("sandbox_failed", f"the job's isolated attempt exited with {code}"))
    finished(res, job.id, job.kind, outcome, time.monotonic() - started)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: when the worker dies, so does this child (a worker host crash must not leave it running alone)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the worker died before the request took effect
        os._exit(0)


def _held(res: Resources, scope: Scope, job_id: uuid.UUID, token: uuid.UUID) -> Row[Any] | None:
    """The job, if our claim still holds it."""
    c = jobs_table.c
    with transaction(res.engine, scope) as db:
        return db.execute(select(*c).where(c.id == job_id, c.claim_token == token,
                                           c.status == state_machine.RUNNING)).first()


def main(argv: list[str]) -> int:
    job_id, token, account, parent = uuid.UUID(argv[0]), uuid.UUID(argv[1]), argv[2], int(argv[3])
    _die_with_parent(parent)
    from shared.logging_setup import configure_logging
    from workers.handlers import HANDLERS
    from workers.heartbeat import Heartbeat

    settings = Settings()
    configure_logging(settings.flowpilot_log_level)
    res = Resources.create(settings)
    # Renews this child's capacity leases; no presence key (this is not a worker anyone should count or stop).
    res.heartbeat = Heartbeat(res, settings.flowpilot_heartbeat_interval_s, presence=False)
    res.heartbeat.start()
    try:
        scope = tenant(account) if account else SYSTEM
        job = _held(res, scope, job_id, token)
        if job is not None:
            execute(res, HANDLERS[job.kind], job, scope, token)
    finally:
        res.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
