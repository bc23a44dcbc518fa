"""Test helpers shared across modules."""
from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient


def wait_job(client: FlaskClient, headers: dict[str, str], job_id: str, *, until: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    etag = None
    while time.monotonic() < deadline:
        # A well-behaved poller: long-poll against the last ETag it saw, so no state is skipped.
        h = dict(headers, **({"If-None-Match": etag} if etag else {}))
        resp = client.get(f"/api/v1/jobs/{job_id}" + ("?wait=2" if etag else ""), headers=h)
        if resp.status_code == 304:
            continue
        assert resp.status_code == 200, resp.get_json()
        etag = resp.headers["ETag"]
        body = resp.get_json()
        if body["status"] in until:
            return body
        if body["status"] in ("succeeded", "failed", "cancelled"):
            raise AssertionError(f"job {job_id} ended {body['status']} while waiting for {until}: {body}")
    raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout}s: {body}")
