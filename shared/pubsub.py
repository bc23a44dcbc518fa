"""One Redis pub/sub connection per process, shared by every thread that waits for a change.

A long-poll used to open (and close) its own pub/sub connection: a TCP connect, a handshake and a SUBSCRIBE
per request, and one Redis connection per parked client. Here one daemon thread holds a single connection,
pattern-subscribed to what the process cares about, and hands each message to the registered callbacks.

While the connection is down the listener is `healthy == False`; users must then not trust silence (a waiter
falls back to re-reading now and then, a cache stops serving). Each (re)subscription calls the `on_resubscribed`
callbacks, because messages published while it was down are lost.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

Handler = Callable[[str], None]  # receives the channel name


class Listener:
    def __init__(self, client: redis.Redis, *, reconnect_delay_s: float = 0.5) -> None:
        self._client = client
        self._patterns: dict[str, Handler] = {}
        self._resubscribed: list[Callable[[], None]] = []
        self._reconnect_delay_s = reconnect_delay_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        self._healthy = threading.Event()
        self._warned = False

    def on(self, pattern: str, handler: Handler) -> None:
        """Call `handler(channel)` for every message on a channel matching the glob `pattern`."""
        with self._lock:
            self._patterns[pattern] = handler

    def on_resubscribed(self, fn: Callable[[], None]) -> None:
        self._resubscribed.append(fn)

    @property
    def healthy(self) -> bool:
        return self._healthy.is_set()

    def ensure_started(self) -> None:
        """Start the thread on first use in this process (a forked child starts its own)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._healthy.clear()
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="pubsub-listener", daemon=True)
            self._thread.start()

    def wait_healthy(self, timeout: float) -> bool:
        self.ensure_started()
        return self._healthy.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                self._serve(pubsub)
            except (redis.RedisError, OSError, ValueError) as exc:
                if not self._stop.is_set():  # warn once per outage, not once per reconnect attempt
                    log.log(logging.DEBUG if self._warned else logging.WARNING,
                            "pub/sub listener has no connection (%s); reconnecting", type(exc).__name__)
                    self._warned = True
            finally:
                self._healthy.clear()
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass
            self._stop.wait(self._reconnect_delay_s)

    def _serve(self, pubsub: redis.client.PubSub) -> None:
        with self._lock:
            patterns = dict(self._patterns)
        pubsub.psubscribe(*patterns)
        confirmed = 0
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind = message["type"]
            if kind == "psubscribe":
                confirmed += 1
                if confirmed == len(patterns):
                    self._healthy.set()
                    self._warned = False
                    for fn in self._resubscribed:
                        fn()
            elif kind == "pmessage":
                pattern = _text(message["pattern"])
                handler = patterns.get(pattern)
                if handler is not None:
                    handler(_text(message["channel"]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
