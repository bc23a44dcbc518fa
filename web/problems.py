"""Every error leaves as RFC 9457 application/problem+json with a stable `code`, never a stack trace."""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from shared.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMedia,
)

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


# The one place where domain errors meet HTTP: each class of the error tree and its status.
STATUS_OF: dict[type[DomainError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    UnsupportedMedia: 415,
    Invalid: 422,
    RateLimited: 429,
    Unavailable: 503,
}


def status_of(err: DomainError) -> int:
    return next((status for cls, status in STATUS_OF.items() if isinstance(err, cls)), 400)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://flowpilot.dev/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(err: DomainError) -> Response:
        headers = {"Retry-After": str(max(1, round(err.retry_after)))} if isinstance(err, RateLimited) else None
        return problem(status_of(err), err.code, err.detail, errors=err.errors, extra=err.extra, headers=headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        detail = {
            404: "no such resource",
            405: "method not allowed on this resource",
            413: f"request body exceeds {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }.get(status, err.description or HTTPStatus(status).phrase)
        headers = {}
        if status == 405 and err.response is None:
            allowed = getattr(err, "valid_methods", None)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem(status, code, detail, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
