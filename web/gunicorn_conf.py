"""How the web process is served: `gunicorn -c python:web.gunicorn_conf 'web:create_app()'`.

gevent workers, so a parked long-poll (`GET /jobs/{id}?wait=N`) is a greenlet waiting on an event, not an OS
thread: thousands fit in one process while every other request keeps its latency. For that to hold, nothing in
the web process may block the hub. gunicorn's gevent worker monkey-patches the standard library when it starts
(sockets, `threading`, `time.sleep`, DNS), which makes redis-py, Dramatiq's enqueue, the pub/sub listener
(shared/pubsub.py: its thread becomes a greenlet) and `requests` cooperative; psycopg2 is a C extension, so
`post_fork` installs psycogreen's wait callback, which turns every Postgres round trip into a cooperative wait.
The choice, the alternatives and the figures are in the README ("Serving model") and tests/bench/RESULTS.md.

Every value can be overridden on the command line (`--bind`, `--workers`, ...) or by the environment below.
"""
from __future__ import annotations

import os
import resource
from typing import Any

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
workers = int(os.environ.get("FLOWPILOT_WEB_WORKERS", "2"))
# Concurrent connections per worker process: parked long-polls plus everything else. Past it, new connections
# wait in the listen backlog. The per-token cap on parked waits (FLOWPILOT_MAX_WAITS_PER_TOKEN) keeps one user
# from taking them all.
worker_connections = int(os.environ.get("FLOWPILOT_WEB_CONNECTIONS", "2000"))
backlog = 4096
timeout = 60
graceful_timeout = 30
keepalive = 5


def _raise_open_files_limit(needed: int) -> None:
    """Each parked client is an open socket: lift the soft limit on file descriptors toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def post_fork(server: Any, worker: Any) -> None:
    """In each worker, before the app loads: Postgres round trips yield to other greenlets (psycogreen)."""
    if "gevent" in str(worker.cfg.worker_class_str):  # (`--worker-class gthread` overrides us for comparisons)
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()
    _raise_open_files_limit(worker.cfg.worker_connections + 256)
