"""The floor of the web tier: the same routes and JSON shapes as the jobs API, with nothing behind them.

No auth, no validation, no database, no Redis: what gunicorn + Flask alone cost per request on this machine.
Served by bench_pipeline's floor phase with the pipeline's gunicorn configuration.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)
_JOB = {"kind": "system.echo", "attempts": 1, "max_attempts": 5, "progress": None, "error": None,
        "session_id": None, "batch_id": None, "created_at": "2026-01-01T00:00:00Z", "next_attempt_at": None}


@app.post("/api/v1/jobs")
def submit() -> Any:
    request.get_json()
    return jsonify({"job": {**_JOB, "id": str(uuid.uuid4()), "status": "queued", "result": None,
                            "started_at": None, "finished_at": None}}), 202


@app.get("/api/v1/jobs/<job_id>")
def get(job_id: str) -> Any:
    response = jsonify({**_JOB, "id": job_id, "status": "succeeded", "result": {"echo": {}},
                        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z"})
    response.headers["ETag"] = '"0123456789abcdef0123"'
    return response
