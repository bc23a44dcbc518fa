"""Resolve / escalate: validate, enforce state rules, and queue the writeback job (202)."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint
from pydantic import Field, field_validator

from db.models import Job
from shared import writeback
from shared.sessions.service import get_session
from web.auth import ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.submit import accepted, submit
from web.validation import Strict, parse_body

bp = Blueprint("writeback", __name__, url_prefix="/api/v1/ai-sessions/<uuid:session_id>")

MAX_MARKDOWN = 60_000  # ConnectWise notes are large but not unbounded


class _Post(Strict):
    markdown: str = Field(min_length=1, max_length=MAX_MARKDOWN)

    @field_validator("markdown")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("markdown must not be blank")
        return value


class ResolutionPost(_Post):
    resolution_summary: str | None = Field(default=None, max_length=500)

    def summary(self) -> str | None:
        return self.resolution_summary


class EscalationPost(_Post):
    escalation_reason: str | None = Field(default=None, max_length=500)

    def summary(self) -> str | None:
        return self.escalation_reason


def _post(session_id: uuid.UUID, kind: str, model: type[ResolutionPost] | type[EscalationPost]) -> Any:
    body = parse_body(model)
    session = get_session(db(), session_id, for_update=True)  # serializes concurrent posts per session

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        job = writeback.request_writeback(
            db(), session, kind, markdown=body.markdown, summary=body.summary(),
            user_id=principal().user_id, idempotency_key=key, fingerprint=fingerprint,
        )
        return job, True

    return accepted(submit(make))


@bp.post("/resolution-note/post")
@require(*ENGINEER_UP)
@doc("Post the resolution note to the PSA ticket and resolve (writeback.resolution_note job)", body=ResolutionPost, status=202)
def post_resolution(session_id: uuid.UUID) -> Any:
    return _post(session_id, "resolution_note", ResolutionPost)


@bp.post("/escalation-package/post")
@require(*ENGINEER_UP)
@doc("Post the escalation package (internal note) and escalate (writeback.escalation_package job)", body=EscalationPost, status=202)
def post_escalation(session_id: uuid.UUID) -> Any:
    return _post(session_id, "escalation_package", EscalationPost)
