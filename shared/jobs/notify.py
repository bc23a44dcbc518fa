"""Job-change notifications over Redis pub/sub, so long-polls wake at once instead of polling SQL."""
from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from shared.pubsub import Listener

log = logging.getLogger(__name__)

# The longest a long-poll may wait (GET /jobs/{id}?wait=N, N <= this).
MAX_WAIT_S = 30
# While the process's pub/sub connection is down, a waiter re-reads this often instead of trusting silence.
FALLBACK_POLL_S = 1.0
# A parked waiter re-checks the listener's health this often (it may go down mid-wait).
HEALTH_CHECK_S = 5.0


def channel(namespace: str, job_id: uuid.UUID | str) -> str:
    return f"{namespace}:job-changed:{job_id}"


def publish_change(client: redis.Redis, namespace: str, job_id: uuid.UUID | str) -> None:
    """Best effort: a lost notification only delays a long-poll until its timeout, never loses a state."""
    try:
        client.publish(channel(namespace, job_id), b"1")
    except redis.RedisError as exc:
        log.warning("could not publish change of job %s: %s", job_id, exc)


class JobWaiters:
    """Long-polls of this process, keyed by job id, woken by the process's one pub/sub listener."""

    def __init__(self, listener: Listener, namespace: str) -> None:
        self._listener = listener
        self._prefix = channel(namespace, "")
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = {}
        listener.on(self._prefix + "*", self._changed)
        listener.on_resubscribed(self._wake_all)  # messages sent while we were disconnected are lost

    def waiter(self, job_id: uuid.UUID | str) -> ChangeWaiter:
        """Register before reading the job, so a change committed after the read is never missed."""
        self._listener.ensure_started()
        event = threading.Event()
        key = str(job_id)
        with self._lock:
            self._waiting.setdefault(key, set()).add(event)
        return ChangeWaiter(self, key, event)

    @property
    def listening(self) -> bool:
        return self._listener.healthy

    def waiting_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._waiting.values())

    def _release(self, key: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiting.get(key)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[key]

    def _changed(self, channel_name: str) -> None:
        key = channel_name[len(self._prefix):]
        with self._lock:
            events = list(self._waiting.get(key, ()))
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [e for es in self._waiting.values() for e in es]
        for event in events:
            event.set()


class ChangeWaiter:
    """One long-poll's registration: `wait` until notified or the deadline, then `close`."""

    def __init__(self, registry: JobWaiters, key: str, event: threading.Event) -> None:
        self._registry = registry
        self._key = key
        self._event = event

    def wait(self, deadline: float) -> bool:
        """Block until a notification or the deadline (monotonic); True when the job may have changed.

        With the listener down, it returns True every FALLBACK_POLL_S so the caller re-reads.
        """
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            listening = self._registry.listening
            if self._event.wait(min(remaining, HEALTH_CHECK_S if listening else FALLBACK_POLL_S)):
                self._event.clear()
                return True
            if not listening or not self._registry.listening:
                return True

    def close(self) -> None:
        self._registry._release(self._key, self._event)

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
