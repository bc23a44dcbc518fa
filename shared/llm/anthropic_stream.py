"""One streamed Messages API turn with tools, read event by event (anthropic SDK 2.x, `stream=True`).

Why raw events instead of the SDK's MessageStream helper: the helper parses tool input as it arrives and
raises mid-stream on JSON it cannot parse, which would lose the reply text. Here text deltas go to the
caller as they come, each tool block's JSON is buffered and parsed once at its end, and a block that
does not parse is a named defect beside the text, never an exception. Transport failures map to our
retry classes (`classify` for SDK errors, httpx timeouts that escape the SDK mid-stream included).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
import httpx2

from shared.errors import PermanentError, TransientError
from shared.llm.anthropic_client import classify

log = logging.getLogger(__name__)

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass
class ToolCall:
    name: str
    input: Any  # the parsed JSON object, or None when it did not parse
    raw: str = ""


@dataclass
class StreamedTurn:
    text: str
    model: str
    stop_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _usage(into: dict[str, int], usage: Any) -> None:
    """Usage counts are cumulative totals: later values overwrite, absent ones keep what we had."""
    for key in USAGE_KEYS:
        value = getattr(usage, key, None)
        if isinstance(value, int):
            into[key] = value


class _Accumulator:
    def __init__(self, on_text: Callable[[str], None]) -> None:
        self.on_text = on_text
        self.text = ""
        self.model = ""
        self.stop_reason: str | None = None
        self.usage: dict[str, int] = {}
        self.blocks: dict[int, ToolCall] = {}
        self.calls: list[ToolCall] = []
        self.defects: list[str] = []

    def feed(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self.model = str(getattr(event.message, "model", "") or "")
            _usage(self.usage, getattr(event.message, "usage", None))
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "text" and self.text and not self.text.endswith("\n"):
                self.text += "\n\n"  # a second text block (after a tool call) starts a new paragraph
            if block.type == "tool_use":
                self.blocks[event.index] = ToolCall(str(block.name), None)
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta" and delta.text:
                self.text += delta.text
                self.on_text(self.text)
            elif delta.type == "input_json_delta" and event.index in self.blocks:
                self.blocks[event.index].raw += delta.partial_json
                if self.text:  # text unchanged: lets a throttled sink catch up while a tool call streams
                    self.on_text(self.text)
        elif kind == "content_block_stop" and event.index in self.blocks:
            self._close(self.blocks.pop(event.index))
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None)
            _usage(self.usage, getattr(event, "usage", None))

    def _close(self, call: ToolCall) -> None:
        try:
            call.input = json.loads(call.raw) if call.raw.strip() else {}
        except ValueError:
            self.defects.append(f"{call.name}: input is not valid JSON")
            return
        self.calls.append(call)

    def finish(self) -> StreamedTurn:
        for call in self.blocks.values():  # never closed: the stream ended inside a tool block
            self.defects.append(f"{call.name}: input was cut off")
        if self.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            self.defects.append(f"reply cut off ({self.stop_reason})")
        if self.stop_reason == "refusal":
            self.defects.append("the model declined to answer")
        return StreamedTurn(self.text, self.model, self.stop_reason, self.usage, self.calls, self.defects)


def _stalled() -> TransientError:
    return TransientError("llm_timeout", "Anthropic API stream stalled past the read timeout")


def stream_turn(
    sdk: anthropic.Anthropic,
    *,
    model: str,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    max_tokens: int,
    on_text: Callable[[str], None],
    secret: str | None = None,
) -> StreamedTurn:
    acc = _Accumulator(on_text)
    streaming = False  # the headers came: a timeout from here on is a stall mid-stream
    try:
        with sdk.messages.create(
            model=model,
            max_tokens=max_tokens,
            system=cast(Any, system),  # plain dicts in the SDK's TypedDict shapes (assistant_prompt.py)
            messages=cast(Any, messages),
            tools=cast(Any, tools),
            tool_choice={"type": "auto"},
            stream=True,
        ) as stream:
            streaming = True
            for event in stream:
                acc.feed(event)
    except anthropic.APIError as exc:
        if streaming and isinstance(exc, anthropic.APITimeoutError):  # SDK 2.17 and later wrap a stall too
            raise _stalled() from None
        err = classify(exc, secret=secret)
        log.info("anthropic stream failed: code=%s detail=%s", err.code, err.detail)
        raise err from exc
    except httpx2.TimeoutException:  # a stall mid-stream, which SDKs before 2.17 do not wrap
        raise _stalled() from None
    except httpx2.TransportError as exc:
        raise TransientError("llm_unreachable", f"Anthropic API stream broke: {type(exc).__name__}") from None
    except ValueError:  # an event whose data is not JSON
        raise PermanentError("llm_invalid_output", "Anthropic API stream sent an unreadable event") from None
    return acc.finish()
