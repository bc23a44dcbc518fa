"""Streaming for the Anthropic stub: a `stream: true` request gets Server-Sent Events in the real wire format.

Event order as the Messages API sends it: message_start, then per content block content_block_start,
content_block_delta... (text_delta / input_json_delta), content_block_stop, then message_delta (stop
reason, cumulative usage) and message_stop; `ping` events may appear anywhere, and a failure after the
200 headers is an `error` event. The body goes out with chunked transfer encoding, one chunk per event,
so the SDK sees each event when we write it. Timing knobs: time to first token, delay between deltas,
and a stall (no bytes at all) to trip the client's read timeout.

Prompt caching is simulated from the request's `cache_control` breakpoints (tools → system → messages):
a prefix seen before is reported as `cache_read_input_tokens`, a new one as `cache_creation_input_tokens`.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

STREAM_OPTIONS = {"text", "tools", "ttft_s", "chunk_delay_s", "stall_s", "stream_error"}


@dataclass
class StreamPlan:
    """What to send: (seconds to wait first, event name, data); name None = only wait (a stall)."""

    events: list[tuple[float, str | None, dict[str, Any] | None]] = field(default_factory=list)

    def add(self, name: str | None, data: dict[str, Any] | None, wait: float = 0.0) -> None:
        self.events.append((wait, name, data))


def encode(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def chunk(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] if text else []


class PromptCache:
    """Which cache_control prefixes were written, across requests (like the API's 5-minute cache)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _blocks(request: dict[str, Any]) -> list[Any]:
        blocks: list[Any] = list(request.get("tools") or [])
        system = request.get("system")
        blocks += [system] if isinstance(system, str) else list(system or [])
        for message in request.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            blocks += [content] if isinstance(content, str) else list(content or [])
        return blocks

    def usage(self, request: dict[str, Any]) -> dict[str, int]:
        prefix, total, breakpoints = hashlib.sha256(), 0, []
        for block in self._blocks(request):
            text = json.dumps(block, sort_keys=True)
            prefix.update(text.encode())
            total += len(text)
            if isinstance(block, dict) and block.get("cache_control"):
                breakpoints.append((prefix.hexdigest(), total))
        with self._lock:
            read = max((n for h, n in breakpoints if h in self._seen), default=0)
            self._seen.update(h for h, _ in breakpoints)
        written = max(0, breakpoints[-1][1] - read) if breakpoints else 0
        return {"input_tokens": max(1, (total - read - written) // 4), "cache_read_input_tokens": read // 4,
                "cache_creation_input_tokens": written // 4}


def plan(kind: str, script: dict[str, Any], request: dict[str, Any], usage: dict[str, int], *,
         ttft_s: float, chunk_delay_s: float, chunk_chars: int) -> StreamPlan:
    """The events of one streamed reply: `script` = {text, tools: [{name, input} | {name, raw}], timing...}."""
    text = str(script.get("text") or "")
    tools = list(script.get("tools") or [])
    raws = [str(t["raw"]) if "raw" in t else json.dumps(t.get("input", {})) for t in tools]
    stop_reason = "tool_use" if tools else "end_turn"
    if kind == "max_tokens":  # cut inside the last block: the text, or the last tool's JSON
        stop_reason = "max_tokens"
        if raws:
            raws[-1] = raws[-1][: max(1, len(raws[-1]) // 2)]
        else:
            text = text[: max(1, len(text) // 2)]
    ttft = float(script.get("ttft_s", ttft_s))
    delay = float(script.get("chunk_delay_s", chunk_delay_s))
    out = StreamPlan()
    out.add("message_start", {"type": "message_start", "message": {
        "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": request.get("model"),
        "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None,
        "usage": {**usage, "output_tokens": 1, "service_tier": "standard"}}})
    out.add("ping", {"type": "ping"})
    deltas = 0

    def delta(index: int, body: dict[str, Any]) -> bool:
        """Add one delta (the first waits the time to first token); False once an injected error ends it."""
        nonlocal deltas
        out.add("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body},
                ttft if deltas == 0 else delay)
        deltas += 1
        if deltas == 1 and script.get("stall_s"):
            out.add(None, None, float(script["stall_s"]))
        if deltas == 1 and script.get("stream_error"):
            error_type = str(script["stream_error"])
            out.add("error", {"type": "error", "error": {"type": error_type, "message": error_type.replace("_", " ")}})
            return False
        return True

    index = 0
    if text:
        out.add("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}})
        for piece in chunk(text, chunk_chars):
            if not delta(0, {"type": "text_delta", "text": piece}):
                return out
        out.add("content_block_stop", {"type": "content_block_stop", "index": 0})
        index = 1
    for tool, raw in zip(tools, raws, strict=True):
        out.add("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool["name"], "input": {}}})
        for piece in chunk(raw, 24):
            if not delta(index, {"type": "input_json_delta", "partial_json": piece}):
                return out
        out.add("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    output_tokens = max(1, (len(text) + sum(len(r) for r in raws)) // 4)
    out.add("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                              "usage": {"output_tokens": output_tokens}})
    out.add("message_stop", {"type": "message_stop"})
    return out


def default_stream_script(request: dict[str, Any]) -> dict[str, Any]:
    """An unscripted streamed turn: a short reply, no tool calls."""
    return {"text": "Stub assistant: could you tell me the exact error message, and when it started?"}
