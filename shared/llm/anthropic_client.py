"""StructuredClient over the official Anthropic SDK (2.x).

Why this shape: jobs retry at their own level (Postgres-backed, bounded), so SDK retries default to 0
and every SDK failure is mapped by one pure function, `classify`, to TransientError (retry later,
honouring Retry-After) or PermanentError (fail the job now). A cut or refused answer is never returned.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anthropic

from shared.errors import PermanentError, TransientError
from shared.llm.structured import StructuredResult
from shared.retry_policy import parse_retry_after

if TYPE_CHECKING:
    from shared.llm.anthropic_stream import StreamedTurn

log = logging.getLogger(__name__)

# Status codes that are not covered by a dedicated SDK exception branch in `classify`.
_TRANSIENT_STATUS = {408: "llm_request_timeout", 409: "llm_conflict"}
_PERMANENT_STATUS = {
    400: "llm_bad_request",
    401: "llm_auth_failed",
    403: "llm_forbidden",
    413: "llm_request_too_large",
}
# Stop reasons whose text is cut mid-way: parsing it would at best yield a partial note.
_TRUNCATED = {"max_tokens", "model_context_window_exceeded"}
_MAX_MESSAGE = 300
# Error types a stream may report after its 200 headers, that a later attempt can get past.
_STREAM_ERRORS = {"overloaded_error": "llm_overloaded", "rate_limit_error": "llm_rate_limited",
                  "api_error": "llm_unavailable", "timeout_error": "llm_timeout"}


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return text[:_MAX_MESSAGE]


def _retry_after(headers: Any) -> float | None:
    """Seconds the API asked us to wait: `retry-after`, else the SDK-honoured `retry-after-ms`."""
    seconds = parse_retry_after(headers.get("retry-after"))
    if seconds is None:
        millis = parse_retry_after(headers.get("retry-after-ms"))
        seconds = None if millis is None else millis / 1000.0
    return seconds


SPEND_LIMIT_CODES = frozenset({"contract_spend_limit_reached", "enforced_spend_limit_reached"})

def classify(exc: anthropic.APIError, *, secret: str | None = None) -> TransientError | PermanentError:
    """Map an SDK error to our retry class. Pure: reads only the exception (and redacts `secret`)."""
    if isinstance(exc, anthropic.APITimeoutError):  # subclass of APIConnectionError: check first
        return TransientError("llm_timeout", "Anthropic API request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientError("llm_unreachable", "could not connect to the Anthropic API")
    if not isinstance(exc, anthropic.APIStatusError):
        return PermanentError("llm_error", _redact(f"Anthropic SDK error: {type(exc).__name__}", secret))

    status = exc.status_code
    detail: dict[str, Any] = {"status": status}
    for key, value in (("request_id", exc.request_id), ("error_type", exc.type), ("error_code", exc.error_code)):
        if value:
            detail[key] = value
    message = _redact(f"Anthropic API {status}: {exc.api_message or type(exc).__name__}", secret)
    retry_after = _retry_after(exc.response.headers)

    if status < 400:  # an `error` event inside a 200 stream: only the body's error type says what happened
        code = _STREAM_ERRORS.get(exc.type or "")
        if code is not None:
            return TransientError(code, message, detail=detail)
        return PermanentError("llm_error", message, detail=detail)
    # OverloadedError (529) subclasses InternalServerError in SDK 2.x, so it must come first.
    if isinstance(exc, anthropic.OverloadedError) or status == 529:
        return TransientError("llm_overloaded", message, retry_after=retry_after, detail=detail)
    if (isinstance(exc, anthropic.RateLimitError) or status == 429) and exc.error_code in SPEND_LIMIT_CODES:
        # A spend limit does not clear in minutes: retrying only burns the attempt budget.
        return PermanentError("llm_spend_limit_reached", message, detail=detail)
    if isinstance(exc, anthropic.RateLimitError) or status == 429:
        return TransientError("llm_rate_limited", message, retry_after=retry_after, detail=detail)
    if isinstance(exc, anthropic.InternalServerError) or status >= 500:
        return TransientError("llm_unavailable", message, retry_after=retry_after, detail=detail)
    if status in _TRANSIENT_STATUS:
        return TransientError(_TRANSIENT_STATUS[status], message, retry_after=retry_after, detail=detail)
    return PermanentError(_PERMANENT_STATUS.get(status, "llm_error"), message, detail=detail)


def _missing_required(data: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    required = schema.get("required")
    return [key for key in required if key not in data] if isinstance(required, list) else []


def parse_message(message: Any, schema: dict[str, Any]) -> StructuredResult:
    """Turn a Messages API reply into a StructuredResult, refusing cut, refused or non-JSON output."""
    if not isinstance(message, anthropic.types.Message):  # a 200 with a non-JSON content type
        raise PermanentError("llm_invalid_output", "Anthropic API reply is not a message")
    stop_reason = getattr(message, "stop_reason", None)
    model = str(getattr(message, "model", "") or "")
    usage_obj = getattr(message, "usage", None)
    usage = {
        "input_tokens": int(getattr(usage_obj, "input_tokens", 0) or 0),
        "output_tokens": int(getattr(usage_obj, "output_tokens", 0) or 0),
    }
    for cache_key in ("cache_read_input_tokens", "cache_creation_input_tokens"):  # prompt caching, when it applied
        if int(getattr(usage_obj, cache_key, 0) or 0):
            usage[cache_key] = int(getattr(usage_obj, cache_key))
    detail: dict[str, Any] = {"model": model, "stop_reason": stop_reason, "usage": usage}
    request_id = getattr(message, "_request_id", None)
    if request_id:
        detail["request_id"] = request_id

    if stop_reason in _TRUNCATED:
        raise PermanentError("llm_output_truncated", f"model output was cut ({stop_reason})", detail=detail)
    if stop_reason == "refusal":
        stop_details = getattr(message, "stop_details", None)
        if stop_details is not None:
            detail["category"] = getattr(stop_details, "category", None)
        raise PermanentError("llm_refused", "the model refused the request", detail=detail)

    text = next((b.text for b in getattr(message, "content", None) or [] if getattr(b, "type", None) == "text"), None)
    if text is None:
        raise PermanentError("llm_invalid_output", "model reply has no text block", detail=detail)
    try:
        data = json.loads(text)
    except ValueError:
        raise PermanentError("llm_invalid_output", "model reply is not JSON", detail=detail) from None
    if not isinstance(data, dict):
        raise PermanentError("llm_invalid_output", "model reply is not a JSON object", detail=detail)
    missing = _missing_required(data, schema)
    if missing:
        detail["missing"] = missing
        raise PermanentError("llm_invalid_output", "model reply lacks required properties", detail=detail)
    return StructuredResult(data=data, model=model, usage=usage, stop_reason=stop_reason)


class AnthropicStructuredClient:
    """One SDK client per worker process (thread-safe, pooled connections); SDK retries off by default."""

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("an Anthropic API key is required")
        self._api_key = api_key
        self.model = model
        self.timeout_s = timeout_s
        # base_url=None lets the SDK read ANTHROPIC_BASE_URL (how tests point it at the stub).
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s
        )

    @property
    def sdk(self) -> anthropic.Anthropic:
        """The SDK client itself, for the Message Batches API (shared/llm/message_batches.py)."""
        return self._client

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def __repr__(self) -> str:
        return f"AnthropicStructuredClient(model={self.model!r}, base_url={self.base_url!r}, api_key='***')"

    def close(self) -> None:
        self._client.close()

    def call(self, *, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> StructuredResult:
        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                output_config={"format": {"type": "json_schema", "schema": schema}},
            )
        except anthropic.APIError as exc:
            err = classify(exc, secret=self._api_key)
            log.info("anthropic call failed: code=%s detail=%s", err.code, err.detail)
            raise err from exc
        except json.JSONDecodeError:  # a 200 whose JSON body is garbage; the SDK does not wrap it
            raise PermanentError("llm_invalid_output", "Anthropic API reply is not valid JSON") from None
        result = parse_message(message, schema)
        log.debug(
            "anthropic call ok: model=%s usage=%s request_id=%s",
            result.model,
            result.usage,
            getattr(message, "_request_id", None),
        )
        return result

    def stream(self, *, system: list[dict[str, Any]], messages: list[dict[str, Any]], tools: list[dict[str, Any]],
               max_tokens: int, on_text: Callable[[str], None]) -> StreamedTurn:
        """One streamed turn with tools (the assistant): text reaches `on_text` as it is generated."""
        from shared.llm.anthropic_stream import stream_turn

        return stream_turn(self._client, model=self.model, system=system, messages=messages, tools=tools,
                           max_tokens=max_tokens, on_text=on_text, secret=self._api_key)
