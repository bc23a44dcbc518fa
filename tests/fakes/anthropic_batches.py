"""The stub's Message Batches API: create, retrieve, list, cancel, and results as JSONL.

Wire format as the real API (the SDK's `client.messages.batches.*` parse it): a batch is `in_progress`
for `latency_s` after its creation (or until `end(id)`), then `ended` with a `results_url`; cancel moves it
to `canceling` and ends it with the unprocessed requests `canceled`. Controls for tests: `outcome(i,
custom_id, params)` → "succeeded" | "errored" | "errored:<error type>" | "expired" | "canceled" per request;
`create_delay_s` holds the create answer after the batch exists (a response lost in flight, with
`create_started` set meanwhile); `line_delay_s` paces the results stream; `expire(id)` ends a batch with
everything unfinished expired.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.anthropic_stub import AnthropicStub

Outcome = Callable[[int, str, dict[str, Any]], str]
MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PATH = re.compile(r"^/v1/messages/batches(?:/(?P<id>[^/]+))?(?:/(?P<op>results|cancel))?$")


@dataclass
class StubBatch:
    id: str
    requests: list[dict[str, Any]]
    created: datetime
    ends_at: float  # monotonic
    cancel_at: datetime | None = None
    ended: datetime | None = None
    expired: bool = False
    lines: list[dict[str, Any]] = field(default_factory=list)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class BatchApi:
    def __init__(self, stub: AnthropicStub) -> None:
        self.stub = stub
        self.latency_s = 0.0
        self.line_delay_s = 0.0
        self.create_delay_s = 0.0
        self.create_started = threading.Event()
        self.outcome: Outcome = lambda i, custom_id, params: "succeeded"
        self.batches: dict[str, StubBatch] = {}
        self.calls: dict[str, int] = {"create": 0, "retrieve": 0, "list": 0, "results": 0, "cancel": 0}
        self._lock = threading.Lock()

    # -- test controls -------------------------------------------------------------------------------
    def end(self, batch_id: str) -> None:
        with self._lock:
            self.batches[batch_id].ends_at = 0.0

    def expire(self, batch_id: str) -> None:
        with self._lock:
            b = self.batches[batch_id]
            b.expired, b.ends_at = True, 0.0

    @property
    def requests_sent(self) -> int:
        with self._lock:
            return sum(len(b.requests) for b in self.batches.values())

    # -- routing ---------------------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return _PATH.match(path) is not None

    def respond(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
                ) -> tuple[int, dict[str, str], Any]:
        m = _PATH.match(path)
        assert m is not None
        batch_id, op = m.group("id"), m.group("op")
        if method == "POST" and batch_id is None:
            return self._create(body)
        if method == "GET" and batch_id is None:
            return self._list(query)
        with self._lock:
            batch = self.batches.get(batch_id or "")
        if batch is None:
            return _error(404, "not_found_error", f"message batch {batch_id} not found")
        if method == "POST" and op == "cancel":
            self._count("cancel")
            with self._lock:
                if batch.ended is None and batch.cancel_at is None:
                    batch.cancel_at = datetime.now(UTC)
            return 200, {}, self._view(batch)
        if method == "GET" and op == "results":
            self._count("results")
            self._settle(batch)
            if batch.ended is None:
                return _error(400, "invalid_request_error", "batch is still processing")
            return 200, {"content-type": "application/binary"}, ("jsonl", list(batch.lines))
        if method == "GET" and op is None:
            self._count("retrieve")
            return 200, {}, self._view(batch)
        return _error(405, "invalid_request_error", "method not allowed")

    def _count(self, what: str) -> None:
        with self._lock:
            self.calls[what] += 1

    def _create(self, body: dict[str, Any] | None) -> tuple[int, dict[str, str], Any]:
        self._count("create")
        requests = (body or {}).get("requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "invalid_request_error", "requests: a non-empty list is required")
        if len(requests) > MAX_REQUESTS:
            return _error(400, "invalid_request_error", f"requests: at most {MAX_REQUESTS} per batch")
        if len(json.dumps(body).encode()) > MAX_BYTES:
            return _error(413, "request_too_large", "batch exceeds 256 MB")
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not _CUSTOM_ID.match(i) for i in ids) or len(set(ids)) != len(ids):
            return _error(400, "invalid_request_error", "custom_id: unique, 1-64 of [a-zA-Z0-9_-]")
        from tests.fakes.anthropic_stub import request_problem

        for r in requests:
            params = r.get("params")
            if not isinstance(params, dict) or not {"model", "max_tokens", "messages"} <= params.keys():
                return _error(400, "invalid_request_error", "params: model, max_tokens and messages are required")
            if params.get("stream"):
                return _error(400, "invalid_request_error", "params: stream is not supported in batches")
            problem = request_problem(params)
            if problem:
                return _error(400, "invalid_request_error", problem)
        batch = StubBatch(id=f"msgbatch_{uuid.uuid4().hex[:24]}", requests=requests, created=datetime.now(UTC),
                          ends_at=time.monotonic() + self.latency_s)
        with self._lock:
            self.batches[batch.id] = batch
        self.create_started.set()
        if self.create_delay_s:  # the batch exists; its answer is late (a worker may die meanwhile)
            self.stub._stopping.wait(self.create_delay_s)
        return 200, {}, self._view(batch)

    def _list(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self._count("list")
        limit = max(1, min(1000, int(query.get("limit") or 20)))
        with self._lock:
            ordered = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
        after = query.get("after_id")
        if after:
            ids = [b.id for b in ordered]
            ordered = ordered[ids.index(after) + 1:] if after in ids else []
        page = ordered[:limit]
        for b in page:
            self._settle(b)
        data = [self._view(b) for b in page]
        return 200, {}, {"data": data, "has_more": len(ordered) > limit,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    # -- processing ----------------------------------------------------------------------------------
    def _settle(self, batch: StubBatch) -> None:
        """End the batch when its time came (or it was cancelled); results are decided once, at the end."""
        with self._lock:
            if batch.ended is not None:
                return
            cancelled = batch.cancel_at is not None
            if not cancelled and time.monotonic() < batch.ends_at:
                return
            lines = []
            for i, request in enumerate(batch.requests):
                custom_id, params = request["custom_id"], request["params"]
                kind = "expired" if batch.expired else self.outcome(i, custom_id, params)
                if cancelled and time.monotonic() < batch.ends_at and kind == "succeeded" and i % 2:
                    kind = "canceled"  # half had not been processed when the cancel arrived
                lines.append({"custom_id": custom_id, "result": self._result(kind, params)})
            random.Random(batch.id).shuffle(lines)  # results come in any order: match on custom_id
            batch.lines, batch.ended = lines, datetime.now(UTC)

    def _result(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        if kind == "succeeded":
            message = self.stub._message("ok", {}, params)
            message["usage"].update(self.stub.cache.usage(params))
            return {"type": "succeeded", "message": message}
        if kind.startswith("errored"):
            error_type = kind.partition(":")[2] or "invalid_request_error"
            return {"type": "errored", "error": {"type": "error", "error": {
                "type": error_type, "message": f"stub: request {error_type}"}}}
        return {"type": kind}  # expired | canceled

    def _view(self, batch: StubBatch) -> dict[str, Any]:
        self._settle(batch)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.ended is None:
            counts["processing"] = len(batch.requests)
        else:
            for line in batch.lines:
                counts[line["result"]["type"]] += 1
        status = "ended" if batch.ended else ("canceling" if batch.cancel_at else "in_progress")
        return {
            "id": batch.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
            "created_at": _iso(batch.created), "expires_at": _iso(batch.created + timedelta(hours=24)),
            "ended_at": _iso(batch.ended), "cancel_initiated_at": _iso(batch.cancel_at), "archived_at": None,
            "results_url": f"{self.stub.base_url}/v1/messages/batches/{batch.id}/results" if batch.ended else None,
        }


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"type": "error", "error": {"type": error_type, "message": message}}
