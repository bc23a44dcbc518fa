"""One error tree for the whole project (in the spirit of the anthropic SDK's single exceptions module).

    FlowPilotError                 every error we raise on purpose: a stable `code` and a message
    ├── DomainError                a command is not allowed as asked; raised by shared/, never HTTP-shaped
    │   ├── NotFound               the thing does not exist for this tenant (another tenant's ids included)
    │   ├── Conflict               the current state forbids it (may succeed once the state changes)
    │   ├── Invalid                the input fails validation; `errors` lists the fields
    │   ├── BadRequest             well-formed but not applicable as asked
    │   ├── Unauthenticated        no valid credentials
    │   ├── PermissionDenied       valid credentials, wrong role or ownership
    │   ├── RateLimited            too many requests; `retry_after` seconds
    │   ├── UnsupportedMedia       the body is not JSON
    │   └── Unavailable            a server-side prerequisite is missing (e.g. no encryption key)
    └── JobError                   what a job meets while running; the runner turns it into retrying/failed
        ├── TransientError         worth retrying later (timeouts, 429, 5xx, 529, lost connections)
        └── PermanentError         retrying unchanged cannot help (400, 401, 403, 404, validation)

Domain errors become problem+json in exactly one place (`web/problems.py`) and permanent job failures in
exactly one place (`workers/runner.py`). Integration errors (PSA, LLM) are JobErrors whose `detail` may say
`outcome_unknown`: a write may have reached the remote side, check before redoing it.
"""
from __future__ import annotations

from typing import Any


class FlowPilotError(Exception):
    """Root of every error we raise on purpose."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DomainError(FlowPilotError):
    """A command is not allowed as asked. `errors` points at fields; `extra` adds machine-readable context."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, detail)
        self.errors = errors
        self.extra = extra or {}

    @property
    def detail(self) -> str:
        return self.message


class NotFound(DomainError):
    """Does not exist, or belongs to another tenant (the two must look the same)."""


class Conflict(DomainError):
    """The current state of the resource forbids the command."""


class Invalid(DomainError):
    """The input fails validation; `errors` lists `{field, message}`."""


class BadRequest(DomainError):
    """Well-formed, but not a command that applies here (a wrong node, a missing note...)."""


class Unauthenticated(DomainError):
    """Missing, unknown, expired or revoked credentials."""


class PermissionDenied(DomainError):
    """Authenticated, but this role or user may not do this."""


class RateLimited(DomainError):
    """Too many requests: come back after `retry_after` seconds."""

    def __init__(self, code: str, detail: str, *, retry_after: float, extra: dict[str, Any] | None = None) -> None:
        super().__init__(code, detail, extra=extra)
        self.retry_after = retry_after


class UnsupportedMedia(DomainError):
    """The request body is not in a format we read."""


class Unavailable(DomainError):
    """A server-side prerequisite is missing; nothing the caller can fix."""


def not_found(what: str = "resource", code: str | None = None) -> NotFound:
    return NotFound(code or "not_found", f"{what} not found")


def conflict(code: str, detail: str, **extra: Any) -> Conflict:
    return Conflict(code, detail, extra=extra or None)


def bad_request(code: str, detail: str, field: str | None = None) -> BadRequest:
    errors = [{"field": field, "message": detail}] if field else None
    return BadRequest(code, detail, errors=errors)


def invalid(detail: str, field: str | None = None, *, code: str = "validation_failed",
            errors: list[dict[str, Any]] | None = None) -> Invalid:
    """A validation failure, pointing at `field` (or the given `errors`)."""
    if errors is None and field:
        errors = [{"field": field, "message": detail}]
    return Invalid(code, detail, errors=errors)


class JobError(FlowPilotError):
    """Raised while a job runs; the runner turns it into retrying or failed."""

    transient: bool = False

    def __init__(self, code: str, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
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

    @classmethod
    def of(cls, err: DomainError) -> PermanentError:
        """A domain rule met inside a job: the job fails with the rule's code and words."""
        detail = dict(err.extra) if err.extra else None
        return cls(err.code, err.message, detail=detail)
