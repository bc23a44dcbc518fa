"""Test helpers shared across modules."""
from __future__ import annotations

import time
from typing import Any

from flask.testing import FlaskClient


def wait_job(client: FlaskClient, headers: dict[str, str], job_id: str, *, until: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = client.get(f"/api/v1/jobs/{job_id}?wait=2", headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        if body["status"] in until:
            return body
    raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout}s: {body}")
