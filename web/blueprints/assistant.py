"""The assistant conversation of a session: post a message (202 + an assistant.reply job), read the transcript."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify
from pydantic import Field, field_validator

from db.models import Job, SessionMessage
from shared.assistant import messages
from shared.jobs.serialize import job_to_dict
from shared.sessions.service import get_session
from web.auth import ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.submit import submit
from web.validation import Strict, parse_body, parse_query

bp = Blueprint("assistant", __name__, url_prefix="/api/v1/ai-sessions/<uuid:session_id>")


class MessageCreate(Strict):
    content: str = Field(min_length=1, max_length=messages.MAX_CONTENT)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be blank")
        return value.strip()


class MessageList(Strict):
    after: uuid.UUID | None = Field(default=None, description="id of the last message you have")
    limit: int = Field(default=50, ge=1, le=200)


@bp.post("/messages")
@require(*ENGINEER_UP)
@doc("Send the assistant a message: 202 with the message and its assistant.reply job", body=MessageCreate,
     status=202)
def post_message(session_id: uuid.UUID) -> Any:
    body = parse_body(MessageCreate)
    session = get_session(db(), session_id, for_update=True)  # orders the transcript, serializes posts
    posted: dict[str, SessionMessage] = {}

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        message, job = messages.post_message(db(), session, body.content, user_id=principal().user_id,
                                             idempotency_key=key, fingerprint=fingerprint)
        posted["message"] = message
        return job, True

    job = submit(make)
    message = posted.get("message") or messages.message_for_job(db(), job.id)
    return jsonify({"message": messages.message_to_dict(message) if message else None,
                    "job": job_to_dict(job)}), 202


@bp.get("/messages")
@require(*ENGINEER_UP)
@doc("The conversation, oldest first (?after=<message id>&limit=)", query=MessageList)
def list_messages(session_id: uuid.UUID) -> Any:
    q = parse_query(MessageList)
    get_session(db(), session_id)
    rows, cursor = messages.list_messages(db(), session_id, after=q.after, limit=q.limit)
    return jsonify({"items": [messages.message_to_dict(m) for m in rows], "next_cursor": cursor})
