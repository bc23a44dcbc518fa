"""Typed errors: API problems (RFC 9457) and integration failures with their retry class."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client should see as application/problem+json with a stable `code`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.errors = errors
        self.extra = extra or {}


def not_found(what: str = "resource", code: str | None = None) -> ApiError:
    return ApiError(404, code or "not_found", f"{what} not found")


def conflict(code: str, detail: str, **extra: Any) -> ApiError:
    return ApiError(409, code, detail, extra=extra or None)


def bad_request(code: str, detail: str, field: str | None = None) -> ApiError:
    errors = [{"field": field, "message": detail}] if field else None
    return ApiError(400, code, detail, errors=errors)


def unprocessable(code: str, detail: str, errors: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(422, code, detail, errors=errors)


class JobError(Exception):
    """Raised by job handlers; the runner turns it into retrying or failed."""

    transient: bool = False

    def __init__(self, code: str, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


class TransientError(JobError):
    """Worth retrying later (timeouts, 429, 5xx, 529, lost connections)."""

    transient = True

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, message, detail=detail)
        self.retry_after = retry_after


class PermanentError(JobError):
    """Retrying unchanged cannot help (400, 401, 403, 404, validation): fail at once."""
