"""Preview endpoints: 200 from the cache for the current state, else 202 with the (shared) job."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify

from db.models import Job
from shared import previews
from shared.sessions.service import get_session
from web.auth import ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.submit import accepted, submit

bp = Blueprint("previews", __name__, url_prefix="/api/v1/ai-sessions/<uuid:session_id>")


def _preview(session_id: uuid.UUID, kind: str) -> Any:
    session = get_session(db(), session_id)
    hit = previews.cached(db(), session.id, kind, session.state_version)
    if hit is not None:
        return jsonify(previews.preview_to_dict(hit, cached_hit=True)), 200

    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        return previews.request_preview(
            db(), session, kind, user_id=principal().user_id, idempotency_key=key, fingerprint=fingerprint
        )

    return accepted(submit(make))


@bp.post("/resolution-note/preview")
@require(*ENGINEER_UP)
@doc("Resolution-note preview: cached (200) or a preview.resolution_note job (202)", status=202)
def resolution_note_preview(session_id: uuid.UUID) -> Any:
    return _preview(session_id, "resolution_note")


@bp.post("/escalation-package/preview")
@require(*ENGINEER_UP)
@doc("Escalation-package preview: cached (200) or a preview.escalation_package job (202)", status=202)
def escalation_package_preview(session_id: uuid.UUID) -> Any:
    return _preview(session_id, "escalation_package")
