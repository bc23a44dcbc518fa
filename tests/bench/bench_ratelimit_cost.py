"""What the tenant rate limit costs per request: CPU of a cached GET /jobs/{id} with it off, with web/ratelimit.py
(the `limits` library's sliding-window counter, one Lua call), and with Flask-Limiter doing the same count (only when
flask-limiter is installed; it is not a dependency). In process, one thread, rounds interleaved; the minimum over
rounds is the figure least disturbed by other load on the machine, the median is printed beside it.

Run: .venv/bin/python -m tests.bench.bench_ratelimit_cost [--rounds 15] [--requests 300]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from flask import Flask

from tests.bench.harness import emit, stack, table

LIMIT = "1000000/minute"  # counted, never reached


def _flask_limiter_app(make: Any) -> Flask | None:
    try:
        from flask_limiter import Limiter
    except ImportError:
        return None
    import web.ratelimit as rl

    app: Flask = make("")
    st = app.extensions["flowpilot"]
    limiter = Limiter(key_func=lambda: rl._counted_tenant() or "", application_limits=[LIMIT],
                      strategy="sliding-window-counter", storage_uri=st.settings.redis_url,
                      storage_options={"connection_pool": st.redis.connection_pool,
                                       "key_prefix": f"{st.namespace}:fl"},
                      headers_enabled=False)
    limiter.request_filter(lambda: rl._counted_tenant() is None)
    limiter.init_app(app)
    return app


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args(argv)
    from web import create_app

    with stack() as st:
        def make(limit: str) -> Flask:
            return create_app(st.settings.model_copy(update={"flowpilot_tenant_rate_limit": limit}))

        t = st.tenant()
        h = {"Authorization": f"Bearer {t.tokens['admin']}"}
        apps = {"off": make(""), "web/ratelimit.py (limits)": make(LIMIT)}
        fl = _flask_limiter_app(make)
        if fl is not None:
            apps["Flask-Limiter"] = fl
        job = apps["off"].test_client().post("/api/v1/jobs", json={"kind": "system.echo"}, headers=h).get_json()["job"]
        url = f"/api/v1/jobs/{job['id']}"
        samples: dict[str, list[float]] = {k: [] for k in apps}
        for _ in range(args.rounds):
            for name, app in apps.items():
                client = app.test_client()
                for _ in range(20):
                    assert client.get(url, headers=h).status_code == 200
                t0 = time.thread_time()
                for _ in range(args.requests):
                    client.get(url, headers=h)
                samples[name].append((time.thread_time() - t0) / args.requests * 1000)
    base = min(samples["off"])
    rows: list[tuple[str, ...]] = [("GET /jobs/{id}", "CPU ms/request min", "median", "added (min)")]
    for name, v in samples.items():
        rows.append((name, f"{min(v):.3f}", f"{statistics.median(v):.3f}", f"{min(v) - base:+.3f}"))
    print(table(rows))
    result = {name: {"min_ms": min(v), "median_ms": statistics.median(v)} for name, v in samples.items()}
    emit("ratelimit_cost", result)
    return result


if __name__ == "__main__":
    main()
