"""One thread per worker process keeps the heartbeat of every job it is running."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from sqlalchemy import func, update

from db.engine import SYSTEM, transaction
from db.models import Job
from workers.resources import Resources

log = logging.getLogger(__name__)


class Heartbeat:
    """Beats every `interval` for the claimed jobs; one UPDATE per tick, however many jobs run."""

    def __init__(self, resources: Resources, interval: float, *, presence: bool = True,
                 broker_id: str | None = None) -> None:
        self._resources = resources
        self._interval = interval
        self._presence = presence  # the "workers seen" key: worker processes only, not sandboxes
        # Dramatiq's consumers beat only when they fetch, so a process whose threads are all busy looks dead to
        # its maintenance (which then hands its messages to others): we beat for them.
        self._broker_id = broker_id
        self._claims: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1)

    def add(self, claim_token: uuid.UUID) -> None:
        with self._lock:
            self._claims.add(claim_token)

    def discard(self, claim_token: uuid.UUID) -> None:
        with self._lock:
            self._claims.discard(claim_token)

    def beat(self) -> None:
        with self._lock:
            tokens = list(self._claims)
        ns = self._resources.namespace
        try:
            # Presence key for ops ("workers seen"); expires if the process dies.
            if self._presence:
                self._resources.redis.set(f"{ns}:workers:{self.worker_id}", len(tokens),
                                          ex=int(self._interval * 3) + 1)
            if self._broker_id is not None:
                self._resources.redis.zadd(f"{ns}:__heartbeats__", {self._broker_id: int(time.time() * 1000)})
        except Exception as exc:
            log.debug("presence beat failed: %s", exc)
        for capacity in (self._resources.llm_capacity, self._resources.psa_capacity):
            try:
                if capacity is not None:
                    capacity.renew()  # the slots this process holds stay ours while it beats
            except Exception as exc:
                log.debug("capacity lease renewal failed: %s", exc)
        if not tokens:
            return
        with transaction(self._resources.engine, SYSTEM) as db:
            db.execute(
                update(Job)
                .where(Job.claim_token.in_(tokens), Job.status == "running")
                .values(heartbeat_at=func.now())
            )

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
