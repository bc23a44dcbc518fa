"""A local Anthropic Messages API (`POST /v1/messages`) for tests and benchmarks.

Why: SDK 2.x is built on httpx2, so respx/pytest-httpx cannot intercept it. This stub speaks the real
wire format over HTTP (auth, `anthropic-version`, `request-id`, error bodies, usage) so the real SDK,
its error classes and our mapping are exercised end to end. Script failures with `enqueue(kind, ...)`.
`stream: true` requests are answered with Server-Sent Events (tests/fakes/anthropic_sse.py): text and
tool_use blocks, time to first token, stalls and mid-stream errors, prompt-cache usage.
`/v1/messages/batches…` is the Message Batches API (tests/fakes/anthropic_batches.py, controls on `stub.batches`).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.anthropic_batches import BatchApi
from tests.fakes.anthropic_sse import PromptCache, StreamPlan, default_stream_script, encode, plan

Responder = Callable[[dict[str, Any]], dict[str, Any]]

KINDS = {"ok", "rate_limited", "overloaded", "server_error", "bad_request", "max_tokens", "slow", "refusal", "error"}
_SECRET_HEADERS = {"authorization", "x-api-key"}


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names, without credentials
    body: dict[str, Any]


def _fill(schema: dict[str, Any], name: str, defs: dict[str, Any]) -> Any:
    """A value valid for `schema` (the common subset structured outputs accept)."""
    if "$ref" in schema:
        return _fill(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), name, defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _fill(schema[key][0], name, defs)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return _fill(merged, name, defs)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        keys = schema.get("required", list(props))
        return {key: _fill(props.get(key, {}), key, defs) for key in keys}
    if kind == "array":
        return [_fill(schema.get("items", {}), name, defs) for _ in range(max(1, schema.get("minItems", 1)))]
    return {"integer": 1, "number": 1.0, "boolean": True, "null": None}.get(kind, f"stub {name} text")


def default_responder(request: dict[str, Any]) -> dict[str, Any]:
    """Fill every required property of the request's output_config JSON schema."""
    schema = ((request.get("output_config") or {}).get("format") or {}).get("schema") or {}
    value = _fill(schema, "answer", schema.get("$defs", {}))
    return value if isinstance(value, dict) else {"answer": value}


def request_problem(body: dict[str, Any]) -> str | None:
    """What the real API would refuse in a request's tools and cache breakpoints (400), or None."""
    names = []
    for tool in body.get("tools") or []:
        schema = tool.get("input_schema") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not isinstance(schema, dict) \
                or schema.get("type") != "object":
            return "tools: each tool needs a name and an input_schema of type object"
        names.append(tool["name"])
    if len(names) != len(set(names)):
        return "tools: tool names must be unique"
    choice = body.get("tool_choice")
    if choice is not None and (not names or choice.get("type") not in ("auto", "any", "tool", "none")):
        return "tool_choice: needs tools, and type auto, any, tool or none"
    blocks = list(body.get("tools") or [])
    system = body.get("system")
    blocks += system if isinstance(system, list) else []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        blocks += content if isinstance(content, list) else []
    if sum(1 for b in blocks if isinstance(b, dict) and b.get("cache_control")) > 4:
        return "A maximum of 4 blocks with cache_control may be provided."
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


class AnthropicStub:
    """Threaded HTTP server on 127.0.0.1:<free port>; use as a context manager or start()/stop()."""

    def __init__(self, api_key: str = "sk-ant-stub-key", *, responder: Responder | None = None, delay_s: float = 0.0,
                 ttft_s: float = 0.0, chunk_delay_s: float = 0.0, chunk_chars: int = 12):
        self.api_key = api_key
        self.responder: Responder = responder or default_responder
        self.stream_responder: Responder = default_stream_script  # unscripted streamed turns
        self.delay_s = delay_s  # applied to every request (benchmarks)
        # Streamed replies: wait before the first delta, between deltas, and the text per delta.
        self.ttft_s, self.chunk_delay_s, self.chunk_chars = ttft_s, chunk_delay_s, chunk_chars
        self.cache = PromptCache()
        self.batches = BatchApi(self)
        self._script: deque[tuple[str, dict[str, Any]]] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> AnthropicStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="anthropic-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes `slow` handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> AnthropicStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("stub not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting and inspection ------------------------------------------------------------------
    def enqueue(self, kind: str, **opts: Any) -> None:
        """Script the next response. Options per kind:
        ok(data=dict | text=str), rate_limited(retry_after="1"), overloaded(retry_after=None),
        server_error(status=500), bad_request(message=...), max_tokens(), slow(seconds=1.0, then ok opts),
        refusal(), error(status, error_type, message, headers={}). Any kind also takes headers={...}.
        Streamed requests (ok, slow, max_tokens) also take text=..., tools=[{"name", "input"} | {"name", "raw"}],
        ttft_s, chunk_delay_s, stall_s (silence after the first delta), stream_error="overloaded_error".
        """
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        with self._lock:
            self._script.append((kind, opts))

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    # -- request handling (runs on server threads) -----------------------------------------------------
    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        clean = {k: v for k, v in headers.items() if k not in _SECRET_HEADERS}
        with self._lock:
            self._requests.append(RecordedRequest(path, clean, body))

    def _next(self) -> tuple[str, dict[str, Any]]:
        with self._lock:
            return self._script.popleft() if self._script else ("ok", {})

    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or headers.get("x-api-key") == self.api_key

    def respond(self, path: str, headers: dict[str, str], raw: bytes, method: str = "POST",
                query: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """Status, extra headers and JSON body for one request (pure apart from recording/sleeping)."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self._record(path, headers, body if isinstance(body, dict) else {})
        if self.delay_s:
            self._stopping.wait(self.delay_s)
        if self.batches.handles(path):
            if not self._authorized(headers):
                return _error(401, "authentication_error", "invalid x-api-key")
            if "anthropic-version" not in headers:
                return _error(400, "invalid_request_error", "anthropic-version: header is required")
            return self.batches.respond(method, path, query or {}, body if isinstance(body, dict) else None)
        if method != "POST":
            return _error(405, "invalid_request_error", f"{method} not allowed on {path}")
        if path != "/v1/messages":
            return _error(404, "not_found_error", f"Not found: {path}")
        if not self._authorized(headers):
            return _error(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict) or not {"model", "max_tokens", "messages"} <= body.keys():
            return _error(400, "invalid_request_error", "model, max_tokens and messages are required")
        problem = request_problem(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        kind, opts = self._next()  # scripted replies are consumed only by well-formed, authorised requests
        extra: dict[str, str] = dict(opts.get("headers") or {})
        if kind == "rate_limited":
            retry_after = opts.get("retry_after", "1")
            if retry_after is not None:
                extra["retry-after"] = str(retry_after)
            return _error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", extra)
        if kind == "overloaded":
            if opts.get("retry_after") is not None:
                extra["retry-after"] = str(opts["retry_after"])
            return _error(529, "overloaded_error", "Overloaded", extra)
        if kind == "server_error":
            return _error(int(opts.get("status", 500)), "api_error", "Internal server error", extra)
        if kind == "bad_request":
            return _error(400, "invalid_request_error", str(opts.get("message", "messages: field required")), extra)
        if kind == "error":
            return _error(int(opts["status"]), str(opts.get("error_type", "api_error")),
                          str(opts.get("message", "error")), extra)
        if kind == "slow":
            self._stopping.wait(float(opts.get("seconds", 1.0)))
        if body.get("stream") is True:
            return 200, extra, self._stream(kind, opts, body)
        return 200, extra, self._message(kind, opts, body)

    def _stream(self, kind: str, opts: dict[str, Any], request: dict[str, Any]) -> StreamPlan:
        scripted = {k: v for k, v in opts.items() if k in ("text", "tools")}
        script = {**(scripted or self.stream_responder(request)), **opts}
        schemas = {t.get("name"): t.get("input_schema", {}) for t in request.get("tools") or []}
        # A tool call scripted by name only gets an input valid for the schema the request declared.
        script["tools"] = [t if "input" in t or "raw" in t else {**t, "input": _fill(schemas.get(t["name"], {}), "input", {})}
                           for t in script.get("tools") or []]
        return plan(kind, script, request, self.cache.usage(request), ttft_s=self.ttft_s,
                    chunk_delay_s=self.chunk_delay_s, chunk_chars=self.chunk_chars)

    def _message(self, kind: str, opts: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        text = opts["text"] if "text" in opts else json.dumps(opts.get("data") or self.responder(request))
        stop_reason, stop_details = "end_turn", None
        if kind == "max_tokens":
            text, stop_reason = text[: max(1, len(text) // 2)], "max_tokens"
        elif kind == "refusal":
            text, stop_reason = "", "refusal"
            stop_details = {"type": "refusal", "category": None, "explanation": None}
        prompt = _text_of(request.get("system")) + "".join(
            _text_of(m.get("content")) for m in request.get("messages", []) if isinstance(m, dict)
        )
        output_tokens = max(1, len(text) // 4)
        if kind == "max_tokens":
            output_tokens = int(request.get("max_tokens", output_tokens))
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model"),
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "stop_details": stop_details,
            "usage": {
                "input_tokens": max(1, len(prompt) // 4),
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }


def _error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    return status, dict(headers or {}), {"type": "error", "error": {"type": error_type, "message": message}}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default listen backlog of 5 makes concurrent benchmarks hit 1 s SYN retries


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out as two writes; don't let Nagle hold the body
    owner: AnthropicStub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every reply carries Content-Length

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        started = time.monotonic()
        path, _, qs = self.path.partition("?")
        query = {k: v[-1] for k, v in parse_qs(qs).items()}
        status, extra, body = self.owner.respond(path, headers, raw, method, query)
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        if isinstance(body, StreamPlan):
            self._send_stream(body, request_id, extra)
            return
        if isinstance(body, tuple) and body[0] == "jsonl":
            self._send_jsonl(body[1], request_id)
            return
        if status >= 400:
            body["request_id"] = request_id
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", request_id)
            self.send_header("x-stub-elapsed-ms", str(int((time.monotonic() - started) * 1000)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

    def _send_jsonl(self, lines: list[dict[str, Any]], request_id: str) -> None:
        """A batch's results: one JSON object per line, chunked, paced by `batches.line_delay_s`."""
        delay = self.owner.batches.line_delay_s
        try:
            self.send_response(200)
            self.send_header("content-type", "application/binary")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", request_id)
            self.end_headers()
            for line in lines:
                if delay and self.owner._stopping.wait(delay):
                    break
                payload = (json.dumps(line) + "\n").encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-stream (a killed worker)
            self.close_connection = True

    def _send_stream(self, stream: StreamPlan, request_id: str, extra: dict[str, str]) -> None:
        """200 + text/event-stream, one chunk per event, each written when its wait is over."""
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", request_id)
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            for wait, name, data in stream.events:
                if wait and self.owner._stopping.wait(wait):
                    break
                if name is not None and data is not None:
                    payload = encode(name, data)
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout test)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
