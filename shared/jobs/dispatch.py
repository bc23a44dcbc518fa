"""The doorbell: send job ids to Dramatiq by actor name, after the row has committed.

Every send also records the job in a sorted set (`sent_key`: job id → when), in the same round trip and right
after the message itself; a worker that claims the job removes it. So the sweeper can tell a job whose message
is still waiting in Redis (behind a busy pool: leave it alone) from one whose message is gone (never sent, or
sent before Redis lost its data: send it again). An epoch key that only a Redis which kept its data still
holds tells the sweeper when to look at once rather than after the grace period. Messages a dead worker had
fetched are put back by Dramatiq's maintenance, which the sweeper runs on every pass.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name
from sqlalchemy import Engine, update

from db.engine import SYSTEM, transaction
from db.models import Job
from shared.jobs.service import JobRef

log = logging.getLogger(__name__)

# A dispatcher gives up on a Redis that does not answer (black-holed, overloaded) instead of hanging the
# request or the job that rings: the job is durable and marked for the sweeper.
CONNECT_TIMEOUT_S = 1.0
TIMEOUT_S = 2.0


def sent_key(namespace: str) -> str:
    return f"{namespace}:jobs:sent"


def epoch_key(namespace: str) -> str:
    return f"{namespace}:jobs:broker-epoch"


def message_for(ref: JobRef) -> Message[None]:
    return Message(
        queue_name=ref.queue,
        actor_name=ref.kind,
        args=(str(ref.id), str(ref.account_id) if ref.account_id else None),
        kwargs={},
        options={},
    )


def consumed(pipe: Any, namespace: str, job_id: uuid.UUID | str) -> None:
    """Queue, on a caller's pipeline, the removal of a job whose message a worker has taken."""
    pipe.zrem(sent_key(namespace), str(job_id))


class Dispatcher:
    """Enqueues through a middleware-free broker so web never imports actor code."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker

    @classmethod
    def from_url(cls, url: str, namespace: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 timeout_s: float = TIMEOUT_S) -> Dispatcher:
        client = redis.Redis.from_url(url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s)
        return cls(RedisBroker(client=client, namespace=namespace, middleware=[]))

    @property
    def namespace(self) -> str:
        return str(self.broker.namespace)

    def send(self, refs: Sequence[JobRef]) -> list[JobRef]:
        """Enqueue every ref in one Redis round trip, through Dramatiq's own dispatch script, and record each
        in the sent set. Returns the refs not known to be sent (all of them on failure; the sweeper sends them)."""
        if not refs:
            return []
        broker, now = self.broker, current_millis()
        script = broker.scripts["dispatch"]
        try:
            with broker.client.pipeline(transaction=False) as pipe:
                for ref in refs:
                    queue, message = ref.queue, message_for(ref).copy(options={"redis_message_id": str(uuid.uuid4())})
                    if ref.delay_ms:  # what RedisBroker.enqueue does with a delay: the queue's delay queue, an eta
                        queue = dq_name(queue)
                        message = message.copy(queue_name=queue, options={"eta": now + ref.delay_ms})
                    args = ["enqueue", now, queue, broker.broker_id, broker.heartbeat_timeout,
                            broker.dead_message_ttl, "0", broker._max_unpack_size(),
                            message.options["redis_message_id"], message.encode()]
                    script(keys=[broker.namespace], args=args, client=pipe)
                pipe.zadd(sent_key(self.namespace), {str(ref.id): now for ref in refs})  # after the messages
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("enqueue of %d job(s) failed (%s); the sweeper will re-dispatch them", len(refs), exc)
            return list(refs)
        return []

    def deliver(self, engine: Engine, refs: Sequence[JobRef]) -> None:
        """Ring the doorbell for committed jobs; the ones that could not be sent go to the sweeper first."""
        mark_undispatched(engine, self.send(refs))

    def waiting_in_redis(self, job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID] | None:
        """Which of these jobs have a message in Redis that no worker has taken yet (None: Redis unreachable)."""
        if not job_ids:
            return set()
        try:
            scores = self.broker.client.zmscore(sent_key(self.namespace), [str(i) for i in job_ids])
        except (redis.RedisError, OSError) as exc:
            log.warning("could not check which messages Redis holds: %s", exc)
            return None
        return {job_id for job_id, score in zip(job_ids, scores, strict=True) if score is not None}

    def requeue_from_dead_workers(self, queues: Sequence[str], silent_ms: int) -> None:
        """Dramatiq's own maintenance, run now rather than on 0.1 % of its commands: messages fetched by a
        worker silent for `silent_ms` (SIGKILLed with its prefetched messages) go back to their queue. Live
        workers beat Dramatiq's heartbeat from their own heartbeat thread (workers/heartbeat.py), busy or not."""
        broker, now = self.broker, current_millis()
        script = broker.scripts["dispatch"]
        try:
            with broker.client.pipeline(transaction=False) as pipe:
                for name in (q for queue in queues for q in (queue, dq_name(queue))):
                    script(keys=[broker.namespace], client=pipe, args=[
                        "qsize", now, name, broker.broker_id, silent_ms, broker.dead_message_ttl, "1",
                        broker._max_unpack_size()])
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not requeue dead workers' messages: %s", exc)

    def new_epoch(self) -> bool:
        """True when Redis holds no epoch yet: it lost its data (or is new), so every message sent before is gone.

        The first caller that notices records a new epoch; False when Redis is unreachable (nothing to conclude).
        """
        try:
            return bool(self.broker.client.set(epoch_key(self.namespace), current_millis(), nx=True))
        except (redis.RedisError, OSError) as exc:
            log.warning("could not read the broker epoch: %s", exc)
            return False

    def close(self) -> None:
        self.broker.close()


def mark_undispatched(engine: Engine, refs: Sequence[JobRef]) -> None:
    """After a failed enqueue, clear dispatched_at so the next sweep sends these first."""
    if not refs:
        return
    try:
        with transaction(engine, SYSTEM) as db:
            db.execute(update(Job).where(Job.id.in_([r.id for r in refs])).values(dispatched_at=None))
    except Exception:  # the sweeper still finds them after redispatch_after_s: their message is not in Redis
        log.exception("could not mark %d jobs undispatched", len(refs))
