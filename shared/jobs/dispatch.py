"""The doorbell: send job ids to Dramatiq by actor name, after the row has committed."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from sqlalchemy import Engine, update

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.jobs.service import JobRef

log = logging.getLogger(__name__)


def message_for(ref: JobRef) -> Message[None]:
    return Message(
        queue_name=ref.queue,
        actor_name=ref.kind,
        args=(str(ref.id), str(ref.account_id) if ref.account_id else None),
        kwargs={},
        options={},
    )


class Dispatcher:
    """Enqueues through a middleware-free broker so web never imports actor code."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker

    @classmethod
    def from_url(cls, url: str, namespace: str) -> Dispatcher:
        broker = RedisBroker(url=url, namespace=namespace, middleware=[])
        return cls(broker)

    def send(self, refs: Iterable[JobRef]) -> list[JobRef]:
        """Enqueue each ref; return those that could not be sent (the sweeper re-sends them)."""
        failed: list[JobRef] = []
        for ref in refs:
            try:
                self.broker.enqueue(message_for(ref), delay=ref.delay_ms or None)
            except (redis.RedisError, OSError) as exc:
                log.warning("enqueue failed for job %s (%s); the sweeper will re-dispatch it", ref.id, exc)
                failed.append(ref)
        return failed

    def send_pipelined(self, refs: list[JobRef]) -> list[JobRef]:
        """Enqueue many immediate refs in one Redis round trip, through Dramatiq's own dispatch script.

        Used for batch chunks; on failure every ref is reported undelivered (the sweeper re-sends).
        """
        if not refs:
            return []
        if any(ref.delay_ms for ref in refs):
            return self.send(refs)
        broker = self.broker
        script = broker.scripts["dispatch"]
        try:
            with broker.client.pipeline(transaction=False) as pipe:
                for ref in refs:
                    message = message_for(ref).copy(options={"redis_message_id": str(uuid.uuid4())})
                    args = ["enqueue", current_millis(), ref.queue, broker.broker_id, broker.heartbeat_timeout,
                            broker.dead_message_ttl, "0", broker._max_unpack_size(),
                            message.options["redis_message_id"], message.encode()]
                    script(keys=[broker.namespace], args=args, client=pipe)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("pipelined enqueue of %d jobs failed (%s); the sweeper will re-dispatch them", len(refs), exc)
            return list(refs)
        return []

    def deliver(self, engine: Engine, refs: list[JobRef], *, pipelined: bool = False) -> None:
        """Ring the doorbell for committed jobs; the ones that could not be sent go to the sweeper first."""
        failed = self.send_pipelined(refs) if pipelined else self.send(refs)
        mark_undispatched(engine, failed)

    def close(self) -> None:
        self.broker.close()


def mark_undispatched(engine: Engine, refs: list[JobRef]) -> None:
    """After a failed enqueue, clear dispatched_at so the next sweep sends these first."""
    if not refs:
        return
    try:
        with transaction(engine, SYSTEM) as db:
            db.execute(update(Job).where(Job.id.in_([r.id for r in refs])).values(dispatched_at=None))
    except Exception:  # the sweeper still finds them after redispatch_after_s
        log.exception("could not mark %d jobs undispatched", len(refs))
