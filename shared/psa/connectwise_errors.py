"""ConnectWise answers and transport failures mapped onto our retry classes, in one place.

Pure functions so the mapping can be tested without HTTP. `write=True` marks a request that may
have changed data: if it may have reached the server and we saw no definitive answer, the
error says `outcome_unknown: True` so the caller checks the PSA before sending it again
(ConnectWise has no idempotency key).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from shared.errors import JobError, PermanentError, TransientError
from shared.retry_policy import parse_retry_after
from shared.security.url_guard import UnsafeUrlError

_MAX_TEXT = 300
_MAX_ERRORS = 10
REQUEST_ID_HEADER = "x-cw-request-id"


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup that also works on plain dicts."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _clip(text: Any) -> str:
    value = str(text)
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"


def _cw_body(body_text: str | None) -> dict[str, Any] | None:
    """CW's JSON error object, or None for empty, HTML (CDN) or otherwise non-object bodies."""
    if not body_text:
        return None
    try:
        parsed = json.loads(body_text)
    except (ValueError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _error_messages(body: dict[str, Any] | None) -> list[str]:
    """Only the human messages of CW's `errors` list: they say which field to fix."""
    items = (body or {}).get("errors")
    if not isinstance(items, list):
        return []
    messages = [_clip(item["message"]) for item in items if isinstance(item, dict) and item.get("message")]
    return messages[:_MAX_ERRORS]


def classify_response(
    status: int, headers: Mapping[str, str] | None, body_text: str | None, *, write: bool = False
) -> JobError | None:
    """None for 2xx, else the error to raise. 3xx is refused: we never follow redirects."""
    if 200 <= status < 300:
        return None
    body = _cw_body(body_text)
    request_id = header(headers, REQUEST_ID_HEADER)
    detail: dict[str, Any] = {"http_status": status, "cw_request_id": request_id}
    cw_message = _clip(body["message"]) if body and body.get("message") else None
    if body and body.get("code"):
        detail["cw_code"] = _clip(body["code"])
    if cw_message:
        detail["cw_message"] = cw_message
    errors = _error_messages(body)
    if errors:
        detail["errors"] = errors
    said = f": {errors[0] if errors else cw_message}" if (errors or cw_message) else ""

    if status in (401, 403):
        return PermanentError("psa_auth_failed", f"ConnectWise refused our credentials ({status}){said}", detail=detail)
    if status == 404:
        return PermanentError("psa_not_found", f"ConnectWise record not found (404){said}", detail=detail)
    if status == 429 or status in (408, 409) or status >= 500:
        # 5xx on a write: the server may have stored it before failing. 408/409/429 were refused.
        detail["outcome_unknown"] = write and status >= 500
        retry_after = parse_retry_after(header(headers, "Retry-After"))
        if status == 429:
            return TransientError(
                "psa_rate_limited", f"ConnectWise rate limit (429){said}", retry_after=retry_after, detail=detail
            )
        reason = "record in use" if status == 409 else "unavailable"
        return TransientError(
            "psa_unavailable", f"ConnectWise {reason} ({status}){said}", retry_after=retry_after, detail=detail
        )
    if 300 <= status < 400:
        return PermanentError("psa_rejected", f"ConnectWise answered a redirect ({status}); redirects are refused", detail=detail)
    return PermanentError("psa_rejected", f"ConnectWise rejected the request ({status}){said}", detail=detail)


def _may_have_been_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """False only when the failure is provably before the request left (refused, DNS, connect)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    return not isinstance(inner, NewConnectionError | ConnectTimeoutError)


def classify_exception(exc: BaseException, *, write: bool = False) -> JobError:
    """A transport failure as a job error; never includes request headers (they carry the key)."""
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, UnsafeUrlError):
        return PermanentError("psa_unsafe_url", f"Refused to contact the PSA: {exc.reason}", detail={"reason": exc.code})
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema):
        return PermanentError("psa_misconfigured", f"PSA site URL is not usable ({name})", detail={"exception": name})
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        sent = False
    elif isinstance(exc, requests.exceptions.Timeout):
        sent = True  # ReadTimeout: the request was sent, the answer never came
    elif isinstance(exc, requests.exceptions.ConnectionError):
        sent = _may_have_been_sent(exc)
    else:
        sent = True  # e.g. ChunkedEncodingError: broke while reading the answer
    detail = {"exception": name, "error": _clip(exc), "outcome_unknown": write and sent}
    return TransientError("psa_unavailable", f"ConnectWise unreachable ({name})", detail=detail)
