"""Keep a gevent web worker responsive around CPU-heavy C calls (password hashing, large crypto).

Under the gevent worker (web/gunicorn_conf.py) every request of a process shares one OS thread. Socket and
Postgres waits yield to other greenlets, but a C function that runs for 100 ms (bcrypt, argon2, a big KDF) holds
that thread, and so every parked long-poll and every other request of the process, for 100 ms, even if it
releases the GIL. `offload` runs such a call on gevent's native thread pool, so the other greenlets keep going;
outside gevent (werkzeug, tests, CLI, workers) it just calls the function. shared/security/passwords.py
uses it, so every caller of the password functions is covered.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def cooperative() -> bool:
    """True in a process whose standard library gevent has patched (the gunicorn gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("threading"))


def offload(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, on a native thread when the process is cooperative (the C call must release the GIL)."""
    if not cooperative():
        return fn(*args, **kwargs)
    import gevent

    result: T = gevent.get_hub().threadpool.apply(fn, args, kwargs)
    return result
