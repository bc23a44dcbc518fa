"""The per-process pub/sub listener, long-poll waiters and the token cache, against real Redis."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from shared.jobs.notify import JobWaiters, publish_change
from shared.pubsub import Listener
from tests.helpers import REDIS_URL
from web.auth_cache import Principal, PrincipalCache, publish_auth_change


@pytest.fixture
def ns() -> str:
    return f"fpps-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL)
    yield c
    c.close()


@pytest.fixture
def listener(client: redis.Redis) -> Iterator[Listener]:
    lst = Listener(client, reconnect_delay_s=0.05)
    yield lst
    lst.stop()


def _principal() -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), "admin", False)


def _until(pred, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_waiter_wakes_on_its_job_only(listener: Listener, client: redis.Redis, ns: str) -> None:
    waiters = JobWaiters(listener, ns)
    mine, other = uuid.uuid4(), uuid.uuid4()
    assert listener.wait_healthy(3)  # (a waiter registered before that is woken once, to re-read)
    with waiters.waiter(mine) as w_mine, waiters.waiter(other) as w_other:
        publish_change(client, ns, mine)
        assert w_mine.wait(time.monotonic() + 3) is True
        assert w_other.wait(time.monotonic() + 0.2) is False  # nothing for that job
        publish_change(client, f"{ns}-elsewhere", other)  # another deployment's namespace
        assert w_other.wait(time.monotonic() + 0.2) is False
    assert waiters.waiting_count() == 0  # closed waiters are forgotten


def test_one_connection_serves_many_waiters(listener: Listener, client: redis.Redis, ns: str) -> None:
    waiters = JobWaiters(listener, ns)
    assert listener.wait_healthy(3)
    before = int(client.pubsub_numpat())
    job = uuid.uuid4()
    ws = [waiters.waiter(job) for _ in range(50)]
    results: list[bool] = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.wait(time.monotonic() + 3))) for w in ws]
    for t in threads:
        t.start()
    assert int(client.pubsub_numpat()) == before  # no new subscription per waiter
    publish_change(client, ns, job)
    for t in threads:
        t.join()
    for w in ws:
        w.close()
    assert results == [True] * 50


def test_lost_connection_wakes_waiters_and_clears_the_cache(listener: Listener, client: redis.Redis, ns: str) -> None:
    """Messages sent while the listener is disconnected are lost: on resubscribing, waiters re-read and the
    token cache starts empty."""
    waiters = JobWaiters(listener, ns)
    cache = PrincipalCache(listener, ns, ttl_s=60)
    assert listener.wait_healthy(3)
    cache.put("h", _principal(), cache.generation())
    assert cache.get("h") is not None
    with waiters.waiter(uuid.uuid4()) as w:
        client.client_kill_filter(_type="pubsub")  # every pub/sub connection on this Redis
        assert w.wait(time.monotonic() + 5) is True  # woken by the resubscription, not by its deadline
    _until(lambda: listener.healthy)
    assert cache.get("h") is None


def test_without_a_listener_waiters_poll_and_the_cache_is_off(ns: str) -> None:
    dead = Listener(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), reconnect_delay_s=0.05)
    try:
        waiters = JobWaiters(dead, ns)
        cache = PrincipalCache(dead, ns, ttl_s=60)
        with waiters.waiter(uuid.uuid4()) as w:
            t0 = time.monotonic()
            assert w.wait(t0 + 10) is True  # "maybe changed": the caller re-reads
            assert time.monotonic() - t0 < 5  # the fallback re-read comes within about a second
        cache.put("h", _principal(), cache.generation())
        assert cache.get("h") is None
    finally:
        dead.stop()


def test_auth_change_clears_every_process_cache(listener: Listener, client: redis.Redis, ns: str) -> None:
    cache = PrincipalCache(listener, ns, ttl_s=60)
    other = PrincipalCache(listener, f"{ns}-other", ttl_s=60)
    assert listener.wait_healthy(3)
    cache.put("h", _principal(), cache.generation())
    other.put("h", _principal(), other.generation())
    publish_auth_change(client, ns)
    _until(lambda: cache.get("h") is None)
    assert other.get("h") is not None  # another namespace is not ours to clear


def test_a_lookup_older_than_a_clear_is_not_cached(listener: Listener, ns: str) -> None:
    cache = PrincipalCache(listener, ns, ttl_s=60)
    assert listener.wait_healthy(3)
    generation = cache.generation()  # a request starts its lookup...
    cache.clear()  # ...a revocation arrives meanwhile...
    cache.put("h", _principal(), generation)  # ...and the lookup's (maybe stale) answer is dropped
    assert cache.get("h") is None


def test_entries_expire_and_zero_ttl_disables(listener: Listener, ns: str) -> None:
    cache = PrincipalCache(listener, ns, ttl_s=0.1)
    assert listener.wait_healthy(3)
    cache.put("h", _principal(), cache.generation())
    assert cache.get("h") is not None
    time.sleep(0.15)
    assert cache.get("h") is None
    off = PrincipalCache(listener, ns, ttl_s=0)
    off.put("h", _principal(), off.generation())
    assert off.get("h") is None
