"""shared.offload: a CPU-heavy C call must not stall the other greenlets of a gevent worker."""
from __future__ import annotations

import hashlib
import subprocess
import sys

from shared.offload import cooperative, offload
from tests.helpers import ROOT

# In a fresh interpreter patched like the gunicorn gevent worker: a ticker greenlet counts while the main greenlet
# runs a ~0.3 s key derivation (hashlib releases the GIL), once offloaded and once called inline.
PROBE = """
from gevent import monkey; monkey.patch_all()
import hashlib, sys, gevent
from shared.offload import cooperative, offload
assert cooperative()
def derive():
    return hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 300_000)
def ticks_during(call):
    count = [0]
    def tick():
        while True:
            count[0] += 1
            gevent.sleep(0.005)
    ticker = gevent.spawn(tick)
    gevent.sleep(0)
    start = count[0]
    call()
    ticker.kill()
    return count[0] - start
print(ticks_during(lambda: offload(derive)), ticks_during(derive))
from shared.security.passwords import hash_password, verify_password
def sign_in_work():
    for _ in range(3):
        assert verify_password(hash_password("a long enough password"), "a long enough password")
print(ticks_during(sign_in_work))
"""


def test_outside_gevent_it_just_calls() -> None:
    assert not cooperative()
    assert offload(hashlib.sha256, b"x").hexdigest() == hashlib.sha256(b"x").hexdigest()
    assert offload(lambda a, b=0: a + b, 1, b=2) == 3


def test_in_a_gevent_worker_other_greenlets_keep_running() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    offloaded, inline, passwords = (int(x) for x in out.stdout.split())
    assert inline <= 1  # the inline call held the only thread: the ticker never ran meanwhile
    assert offloaded > inline + 5  # offloaded, the ticker kept ticking
    assert passwords > 5  # argon2 hashing and verifying (admin resets, sign-ins) never hold the event loop
