"""AnthropicStructuredClient through the real SDK over HTTP against the local stub, plus `classify` units."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from shared.errors import JobError, PermanentError, TransientError
from shared.llm.anthropic_client import AnthropicStructuredClient, classify
from tests.fakes.anthropic_stub import AnthropicStub, default_responder

API_KEY = "sk-ant-test-0123456789-secret"
MODEL = "claude-test-model"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "string"}},
        "confidence": {"type": "number"},
    },
    "required": ["summary", "steps", "confidence"],
    "additionalProperties": False,
}


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with AnthropicStub(API_KEY) as server:
        yield server


@pytest.fixture
def make_client(stub: AnthropicStub) -> Iterator[Any]:
    made: list[AnthropicStructuredClient] = []

    def make(**kwargs: Any) -> AnthropicStructuredClient:
        kwargs.setdefault("base_url", stub.base_url)
        kwargs.setdefault("timeout_s", 5.0)
        client = AnthropicStructuredClient(kwargs.pop("api_key", API_KEY), MODEL, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _call(client: AnthropicStructuredClient, **overrides: Any) -> Any:
    args: dict[str, Any] = {"system": "You write MSP notes.", "user": "Printer offline on floor 2.", "schema": SCHEMA,
                            "max_tokens": 800}
    return client.call(**{**args, **overrides})


# -- over HTTP --------------------------------------------------------------------------------------


def _fails(kind: type[JobError], client: Any) -> Any:
    """The error one call raises, which must be of `kind`; wrapped like pytest's ExceptionInfo (`.value`)."""
    with pytest.raises(kind) as info:
        _call(client)
    return info

def test_success_returns_data_usage_model(stub: AnthropicStub, make_client: Any) -> None:
    result = _call(make_client())
    assert set(result.data) == {"summary", "steps", "confidence"}
    assert "summary" in result.data["summary"] and isinstance(result.data["steps"], list)
    assert result.model == MODEL
    assert result.stop_reason == "end_turn"
    assert result.usage["input_tokens"] > 0 and result.usage["output_tokens"] > 0
    assert set(result.usage) == {"input_tokens", "output_tokens"}


def test_request_carries_schema_system_and_user(stub: AnthropicStub, make_client: Any) -> None:
    _call(make_client(), max_tokens=321)
    (seen,) = stub.requests
    assert seen.path == "/v1/messages"
    assert seen.body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert seen.body["system"] == "You write MSP notes."
    assert seen.body["messages"] == [{"role": "user", "content": "Printer offline on floor 2."}]
    assert seen.body["model"] == MODEL and seen.body["max_tokens"] == 321
    assert "temperature" not in seen.body
    assert seen.headers["anthropic-version"]
    assert seen.headers["x-stainless-retry-count"] == "0"
    assert "authorization" not in seen.headers  # recorded without credentials


def test_scripted_data_is_returned_verbatim(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("ok", data={"summary": "s", "steps": ["a", "b"], "confidence": 0.5})
    assert _call(make_client()).data == {"summary": "s", "steps": ["a", "b"], "confidence": 0.5}


def test_client_is_reused_across_calls(stub: AnthropicStub, make_client: Any) -> None:
    client = make_client()
    sdk = client._client
    _call(client)
    _call(client)
    assert client._client is sdk and stub.calls == 2


def test_base_url_none_reads_env(stub: AnthropicStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.base_url)
    client = AnthropicStructuredClient(API_KEY, MODEL, timeout_s=5.0)
    try:
        assert _call(client).model == MODEL
    finally:
        client.close()
    assert stub.calls == 1


def test_rate_limited_carries_retry_after(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("rate_limited", retry_after="7")
    info = _fails(TransientError, make_client())
    assert info.value.code == "llm_rate_limited"
    assert info.value.retry_after == 7.0
    assert info.value.detail and info.value.detail["request_id"].startswith("req_")
    assert info.value.detail["status"] == 429


def test_overloaded_is_transient_and_sdk_does_not_retry(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("overloaded", retry_after="3")
    info = _fails(TransientError, make_client(max_retries=0))
    assert info.value.code == "llm_overloaded"
    assert info.value.retry_after == 3.0
    assert stub.calls == 1


def test_max_retries_is_passed_to_the_sdk(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("overloaded", retry_after="0.01")
    result = _call(make_client(max_retries=1))
    assert result.stop_reason == "end_turn"
    assert stub.calls == 2
    assert [r.headers["x-stainless-retry-count"] for r in stub.requests] == ["0", "1"]


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_is_transient(stub: AnthropicStub, make_client: Any, status: int) -> None:
    stub.enqueue("server_error", status=status)
    info = _fails(TransientError, make_client())
    assert info.value.code == "llm_unavailable"


def test_bad_request_is_permanent(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("bad_request", message="output_config.format.schema: unsupported keyword")
    info = _fails(PermanentError, make_client())
    assert info.value.code == "llm_bad_request"
    assert "unsupported keyword" in info.value.message


def test_wrong_key_is_auth_failed(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("ok")  # must not be consumed by the rejected request
    wrong = "sk-ant-wrong-key-abcdef"
    info = _fails(PermanentError, make_client(api_key=wrong))
    assert info.value.code == "llm_auth_failed"
    assert wrong not in str(info.value) and wrong not in repr(info.value.detail)
    assert stub.pending == 1


@pytest.mark.parametrize(
    ("status", "error_type", "code", "transient"),
    [
        (403, "permission_error", "llm_forbidden", False),
        (413, "request_too_large", "llm_request_too_large", False),
        (404, "not_found_error", "llm_error", False),
        (408, "timeout_error", "llm_request_timeout", True),
        (409, "conflict_error", "llm_conflict", True),
    ],
)
def test_other_statuses(stub: AnthropicStub, make_client: Any, status: int, error_type: str, code: str,
                        transient: bool) -> None:
    stub.enqueue("error", status=status, error_type=error_type, message="nope")
    with pytest.raises((TransientError, PermanentError)) as info:
        _call(make_client())
    assert info.value.code == code and info.value.transient is transient


def test_max_tokens_is_truncated_never_returned(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("max_tokens")
    with pytest.raises(PermanentError) as info:
        _call(make_client(), max_tokens=64)
    assert info.value.code == "llm_output_truncated"
    assert info.value.detail and info.value.detail["usage"]["output_tokens"] == 64


def test_refusal_is_permanent(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("refusal")
    info = _fails(PermanentError, make_client())
    assert info.value.code == "llm_refused"


@pytest.mark.parametrize("text", ["Sure! Here is your note.", "[1, 2]", '{"summary": "only this"}'])
def test_non_schema_output_is_invalid(stub: AnthropicStub, make_client: Any, text: str) -> None:
    stub.enqueue("ok", text=text)
    info = _fails(PermanentError, make_client())
    assert info.value.code == "llm_invalid_output"


def test_slow_response_times_out(stub: AnthropicStub, make_client: Any) -> None:
    stub.enqueue("slow", seconds=3.0)
    info = _fails(TransientError, make_client(timeout_s=0.5))
    assert info.value.code == "llm_timeout"
    assert stub.calls == 1


def test_unreachable_host_is_transient(make_client: Any) -> None:
    with AnthropicStub(API_KEY) as gone:
        url = gone.base_url
    info = _fails(TransientError, make_client(base_url=url, timeout_s=1.0))
    assert info.value.code == "llm_unreachable"


def test_api_key_never_leaks(stub: AnthropicStub, make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    for kind in ("rate_limited", "overloaded", "server_error", "bad_request", "max_tokens"):
        stub.enqueue(kind)
    errors: list[JobError] = []
    for _ in range(5):
        with pytest.raises((TransientError, PermanentError)) as info:
            _call(client)
        errors.append(info.value)
    _call(client)
    for err in errors:
        assert API_KEY not in str(err) and API_KEY not in repr(err) and API_KEY not in repr(err.detail)
    assert caplog.records, "expected SDK/client debug logs"
    assert API_KEY not in caplog.text


def test_empty_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        AnthropicStructuredClient("", MODEL)


# -- classify (pure) --------------------------------------------------------------------------------

_REQ = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")


def _status_error(cls: type[anthropic.APIStatusError], status: int, headers: dict[str, str] | None = None,
                  error_type: str = "api_error", message: str = "boom") -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    response = httpx2.Response(status, headers=headers or {}, json=body, request=_REQ)
    return cls(f"Error code: {status} - {body}", response=response, body=body)


@pytest.mark.parametrize(
    ("cls", "status", "code", "transient"),
    [
        (anthropic.RateLimitError, 429, "llm_rate_limited", True),
        (anthropic.OverloadedError, 529, "llm_overloaded", True),
        (anthropic.InternalServerError, 500, "llm_unavailable", True),
        (anthropic.ServiceUnavailableError, 503, "llm_unavailable", True),
        (anthropic.GatewayTimeoutError, 504, "llm_unavailable", True),
        (anthropic.RequestTimeoutError, 408, "llm_request_timeout", True),
        (anthropic.ConflictError, 409, "llm_conflict", True),
        (anthropic.BadRequestError, 400, "llm_bad_request", False),
        (anthropic.AuthenticationError, 401, "llm_auth_failed", False),
        (anthropic.PermissionDeniedError, 403, "llm_forbidden", False),
        (anthropic.ContentTooLargeError, 413, "llm_request_too_large", False),
        (anthropic.NotFoundError, 404, "llm_error", False),
        (anthropic.UnprocessableEntityError, 422, "llm_error", False),
        (anthropic.APIStatusError, 418, "llm_error", False),
    ],
)
def test_classify_status(cls: type[anthropic.APIStatusError], status: int, code: str, transient: bool) -> None:
    err = classify(_status_error(cls, status))
    assert (err.code, err.transient) == (code, transient)
    assert isinstance(err, TransientError if transient else PermanentError)
    assert err.detail and err.detail["status"] == status


def test_classify_overloaded_before_internal_server_error() -> None:
    exc = _status_error(anthropic.OverloadedError, 529, {"retry-after": "12"}, "overloaded_error")
    assert isinstance(exc, anthropic.InternalServerError)  # the SDK 2.x hierarchy this guards against
    err = classify(exc)
    assert err.code == "llm_overloaded" and isinstance(err, TransientError) and err.retry_after == 12.0


def test_classify_retry_after_forms() -> None:
    dated = classify(_status_error(anthropic.RateLimitError, 429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert isinstance(dated, TransientError) and dated.retry_after == 0.0  # a date in the past
    millis = classify(_status_error(anthropic.RateLimitError, 429, {"retry-after-ms": "1500"}))
    assert isinstance(millis, TransientError) and millis.retry_after == 1.5
    none = classify(_status_error(anthropic.RateLimitError, 429))
    assert isinstance(none, TransientError) and none.retry_after is None


def test_classify_request_id_and_type_in_detail() -> None:
    err = classify(_status_error(anthropic.BadRequestError, 400, {"request-id": "req_abc"}, "invalid_request_error"))
    assert err.detail == {"status": 400, "request_id": "req_abc", "error_type": "invalid_request_error"}


def test_classify_connection_errors() -> None:
    timeout = classify(anthropic.APITimeoutError(request=_REQ))
    unreachable = classify(anthropic.APIConnectionError(request=_REQ))
    assert (timeout.code, timeout.transient) == ("llm_timeout", True)
    assert (unreachable.code, unreachable.transient) == ("llm_unreachable", True)


def test_classify_redacts_secret_and_bounds_message() -> None:
    exc = _status_error(anthropic.AuthenticationError, 401, message=f"bad key {API_KEY} " + "x" * 1000)
    err = classify(exc, secret=API_KEY)
    assert API_KEY not in err.message and len(err.message) <= 300


def test_default_responder_fills_nested_schemas() -> None:
    schema = {
        "type": "object",
        "$defs": {"Step": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
        "properties": {
            "kind": {"enum": ["note", "email"]},
            "count": {"type": "integer"},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "optional": {"type": "string"},
        },
        "required": ["kind", "count", "steps", "maybe"],
    }
    data = default_responder({"output_config": {"format": {"type": "json_schema", "schema": schema}}})
    assert data == {"kind": "note", "count": 1, "steps": [{"text": "stub text text"}], "maybe": "stub maybe text"}
