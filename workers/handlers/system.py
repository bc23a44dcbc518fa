"""Diagnostic jobs that exercise the whole path (row, enqueue, claim, result)."""
from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Any

from shared.errors import PermanentError, TransientError
from workers.context import JobContext


def echo(ctx: JobContext) -> dict[str, Any]:
    """Return the payload after `delay_ms`; optional injected faults prove the retry path.

    `fail_attempts: N` fails the first N attempts transiently (with `retry_after_s` if given);
    `fail_permanently: true` fails at once. Both are for tests, health checks and demos. `crash_worker`
    (operators only) kills the process it runs in, as a memory blow-up or a segfault would.
    """
    options = ctx.payload.get("_options", {})
    if options.get("crash_worker"):
        _crash(str(options["crash_worker"]))
    delay_ms = int(options.get("delay_ms", 0))
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if options.get("fail_permanently"):
        raise PermanentError("echo_failed", "permanent failure requested by the caller")
    if ctx.attempt <= int(options.get("fail_attempts", 0)):
        raise TransientError(
            "echo_transient_failure",
            f"transient failure requested for attempt {ctx.attempt}",
            retry_after=options.get("retry_after_s"),
        )
    return {"echo": ctx.payload.get("payload", {}), "attempt": ctx.attempt}


def _crash(how: str) -> None:
    """A poison job on demand: SIGKILL (what the kernel's OOM killer sends) or a real segfault."""
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    os.kill(os.getpid(), signal.SIGKILL)
