"""Job-change notifications over Redis pub/sub, so long-polls wake at once instead of polling SQL."""
from __future__ import annotations

import logging
import time
import uuid

import redis

log = logging.getLogger(__name__)


def channel(namespace: str, job_id: uuid.UUID | str) -> str:
    return f"{namespace}:job-changed:{job_id}"


def publish_change(client: redis.Redis, namespace: str, job_id: uuid.UUID | str) -> None:
    """Best effort: a lost notification only delays a long-poll until its timeout, never loses a state."""
    try:
        client.publish(channel(namespace, job_id), b"1")
    except redis.RedisError as exc:
        log.warning("could not publish change of job %s: %s", job_id, exc)


class ChangeWaiter:
    """Subscribe first, then re-check the database, then wait: no change slips between the two."""

    def __init__(self, client: redis.Redis, namespace: str, job_id: uuid.UUID | str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._channel = channel(namespace, job_id)
        self._pubsub.subscribe(self._channel)

    def wait(self, deadline: float) -> bool:
        """Block until a notification or the deadline (monotonic); True when notified."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            message = self._pubsub.get_message(timeout=min(remaining, 1.0))
            if message is not None and message.get("type") == "message":
                return True

    def close(self) -> None:
        try:
            self._pubsub.unsubscribe()
            self._pubsub.close()
        except redis.RedisError:
            pass

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
