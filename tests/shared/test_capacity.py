"""Capacity slots on real Redis: limits hold across threads, per tenant and globally; dead holders expire."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from shared.capacity import Capacity
from shared.errors import TransientError
from tests.helpers import REDIS_URL


@pytest.fixture
def client():
    c = redis.Redis.from_url(REDIS_URL)
    yield c
    for k in c.scan_iter("captest-*"):
        c.delete(k)
    c.close()


def test_concurrency_never_exceeds_limits(client):
    cap = Capacity(client, f"captest-{uuid.uuid4().hex[:6]}", "llm", global_limit=3, tenant_limit=2, wait_s=10)
    peak = {"global": 0, "a": 0}
    live = {"global": 0, "a": 0}
    lock = threading.Lock()

    def work(tenant):
        with cap.slot(tenant):
            with lock:
                live["global"] += 1
                peak["global"] = max(peak["global"], live["global"])
                if tenant == "a":
                    live["a"] += 1
                    peak["a"] = max(peak["a"], live["a"])
            time.sleep(0.05)
            with lock:
                live["global"] -= 1
                if tenant == "a":
                    live["a"] -= 1

    threads = [threading.Thread(target=work, args=("a" if i % 2 else f"t{i}",)) for i in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert peak["global"] == 3 and peak["a"] == 2


def test_exhausted_is_transient_and_dead_holders_expire(client):
    ns = f"captest-{uuid.uuid4().hex[:6]}"
    cap = Capacity(client, ns, "psa", global_limit=1, tenant_limit=1, wait_s=0.2, ttl_ms=1500)
    # The same semaphore seen by a caller willing to wait: it gets the slot once the dead lease runs out,
    # however late a loaded machine wakes it.
    patient = Capacity(client, ns, "psa", global_limit=1, tenant_limit=1, wait_s=10, ttl_ms=1500)
    holder = cap.slot("a")
    holder.__enter__()  # a holder that never releases (as if SIGKILLed)
    with pytest.raises(TransientError) as err:
        with cap.slot("b"):
            pass
    assert err.value.code == "psa_capacity_exhausted" and err.value.retry_after == 2.0
    time.sleep(1.5)
    with patient.slot("b"):
        assert cap.in_use() == 1


def test_renewed_holders_outlive_ttl_and_only_they_do(client):
    """The worker heartbeat renews the slots its process holds; a SIGKILLed holder's lease just runs out."""
    ns = f"captest-{uuid.uuid4().hex[:6]}"
    cap = Capacity(client, ns, "psa", global_limit=2, tenant_limit=2, wait_s=0.2, ttl_ms=1500)
    dead = Capacity(client, ns, "psa", global_limit=2, tenant_limit=2, wait_s=0.2, ttl_ms=1500)
    with cap.slot("a"):
        dead.slot("a").__enter__()  # another process's slot that is never renewed (it was SIGKILLed)
        for _ in range(8):  # 2.4 s > ttl; renewing every 0.3 s leaves wide margins under load
            time.sleep(0.3)
            cap.renew()
        assert cap.in_use("a") == 1  # ours is still held after 2 x ttl; the dead one expired
    assert cap.in_use("a") == 0
