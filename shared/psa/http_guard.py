"""Bounds on what a PSA server can make a worker do: a wall-clock deadline per call, a cap on every body.

A tenant chooses its PSA's URL, so it controls the answers. requests' timeouts apply to each socket read:
a server sending one byte a second, in its headers or its body, keeps a call (and a worker thread) alive
indefinitely. So a provider call runs under a `Deadline`; when it passes, a watchdog thread shuts down the
socket of every connection the call used, which wakes the blocked read at once (the call then fails, and
the caller sees `deadline.passed`). Connections find the running call's deadline in a thread-local, set by
`deadline(seconds)`; a session gets them by mounting `GuardedAdapter` (`guard_session`).

Bodies are read in chunks and refused once they exceed the cap (decompressed size: a gzip bomb counts for
what it inflates to); a declared Content-Length over the cap is refused before reading anything.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CHUNK = 64 * 1024
# A read that times out this close to the deadline counts as the deadline (the read timeout is the time left).
_EPSILON_S = 0.05


class ResponseTooLarge(Exception):
    """The body (declared or read so far) is over the cap."""

    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"response body over {limit} bytes")
        self.limit = limit
        self.seen = seen


class Deadline:
    """One provider call's wall-clock budget, and the connections to cut when it is spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._finished = False
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at - _EPSILON_S

    @property
    def finished(self) -> bool:
        return self._finished

    def attach(self, conn: Any) -> None:
        """A connection this call is about to use: cut it when the deadline passes (at once if it has)."""
        with self._lock:
            if self._finished:
                return
            if not any(c is conn for c in self._connections):
                self._connections.append(conn)
            cut = self.expired
        if cut:
            _shut(conn)

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            connections = list(self._connections)
        for conn in connections:
            _shut(conn)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._connections.clear()


def _shut(conn: Any) -> None:
    """Shut the socket down (not close: the reading thread still owns it); a blocked recv returns at once.

    `socket.socket.shutdown` directly: SSLSocket.shutdown would also drop its SSL object under the reader.
    """
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One daemon thread per process expiring deadlines in order (started on first use, so after a fork)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="psa-deadline-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait(60.0)
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                due = heapq.heappop(self._heap)[2]
            due.expire()


_WATCHDOG = _Watchdog()
_local = threading.local()


def current() -> Deadline | None:
    """The deadline of the provider call running on this thread, if any."""
    found: Deadline | None = getattr(_local, "deadline", None)
    return found


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run a provider call under a deadline; a call inside another keeps the outer (stricter) one."""
    outer = current()
    if outer is not None:
        yield outer
        return
    bound = Deadline(seconds)
    _WATCHDOG.watch(bound)
    _local.deadline = bound
    try:
        yield bound
    finally:
        _local.deadline = None
        bound.finish()


def _attach_current(conn: Any) -> None:
    bound = current()
    if bound is not None:
        bound.attach(conn)


class _GuardedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a pooled connection, already connected
            _attach_current(self)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _attach_current(self)
        super().request(*args, **kwargs)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose connections the running call's deadline can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def guard_session(session: requests.Session) -> requests.Session:
    """Mount `GuardedAdapter` for http and https on `session` (once); returns it."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), GuardedAdapter):
            session.mount(prefix, GuardedAdapter())
    return session


def read_capped(resp: Any, limit: int) -> bytes:
    """The whole body, or ResponseTooLarge as soon as it (declared or decompressed so far) passes `limit`."""
    declared = str(resp.headers.get("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit, int(declared))
    body = bytearray()
    for chunk in resp.iter_content(CHUNK):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(limit, len(body))
    return bytes(body)
