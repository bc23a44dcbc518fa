"""Logging for every process, with a filter that masks anything shaped like a secret."""
from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"fp_[A-Za-z0-9_\-]{20,}"),  # our API tokens
    # "Authorization: Basic …" and the repr/JSON forms of a headers dict ('Authorization': 'Basic …').
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)\s+[A-Za-z0-9+/=._\-]+"),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]+"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "[REDACTED]", text)
    return text


_TRACEBACKS = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, and in the traceback and stack the formatter will print with it.

    A traceback quotes the exception's text and often the source lines around it, so a key inside an
    exception message would bypass a filter that looked at the message only. The traceback is formatted
    here (the formatter then reuses `record.exc_text` instead of formatting it again).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
