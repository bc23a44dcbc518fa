"""Storing a reply: the assistant message and its effects in one transaction, with one state_version bump.

Effects are proposals from a snapshot that may have aged while the reply was written; each is checked
against the rows as they are now (under the session row lock) and dropped with a named defect when it no
longer applies. The text is stored whatever happens to the effects.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AiSession, SessionFact, SessionMessage, SessionSuggestedFix
from shared.assistant.messages import message_to_dict
from shared.llm.conversation import AssistantReply, Conversation, OutcomeProposal
from shared.sessions import fixes
from shared.sessions.service import bump_state_version, get_session, insert_fact


def stored_reply(db: Session, job_id: uuid.UUID) -> SessionMessage | None:
    """The assistant message this job already wrote, if any: a reply is stored once per job."""
    return db.execute(
        select(SessionMessage).where(SessionMessage.job_id == job_id, SessionMessage.role == "assistant")
    ).scalar_one_or_none()


def result_of(message: SessionMessage, state_version: int, defects: list[str] | None = None) -> dict[str, Any]:
    """The reply job's result (API.md "Assistant"), with the whole message so a poller needs no second call."""
    return {
        "message_id": str(message.id),
        "message": message_to_dict(message),
        "suggested_fix_id": str(message.suggested_fix_id) if message.suggested_fix_id else None,
        "fact_ids": list(message.fact_ids or []),
        "outcome_proposal": message.outcome_proposal,
        "state_version": state_version,
        "generator": message.generator,
        "defects": defects or [],
    }


def store_reply(db: Session, conversation: Conversation, reply: AssistantReply, *, job_id: uuid.UUID) -> dict[str, Any]:
    session = get_session(db, conversation.session_id, for_update=True)
    defects = list(reply.defects)
    message_id = uuid.uuid4()
    proposal: dict[str, Any] | None = None
    fix: SessionSuggestedFix | None = None
    fact_ids: list[str] = []
    if session.status == "resolved" and (reply.fix or reply.facts or reply.outcome):
        defects.append("effects dropped: the session was resolved while the reply was written")
    else:
        if reply.outcome is not None:  # first: a fix suggested in the same turn supersedes the one it is about
            proposal = _propose(db, conversation, reply.outcome, message_id, defects)
        if reply.fix is not None:
            fix = fixes.supersede_and_insert(db, session, reply.fix.fields())
        fact_ids = [str(f.id) for f in _record_facts(db, session, reply.facts)]
    message = SessionMessage(
        id=message_id, account_id=session.account_id,
        session_id=session.id, role="assistant", content=reply.text, job_id=job_id,
        suggested_fix_id=fix.id if fix is not None else None, fact_ids=fact_ids, outcome_proposal=proposal,
        generator=reply.generator, model=reply.model, usage=reply.usage or None,
    )
    db.add(message)
    db.flush()
    db.refresh(message)
    changed = proposal is not None or fix is not None or bool(fact_ids)
    version = bump_state_version(db, session.id) if changed else session.state_version
    return result_of(message, version, defects)


def _propose(db: Session, c: Conversation, outcome: OutcomeProposal, message_id: uuid.UUID,
             defects: list[str]) -> dict[str, Any] | None:
    """Park the proposal on the fix the engineer was talking about, if it is still active and open."""
    if c.fix is None:
        defects.append("propose_outcome: there is no active fix")
        return None
    row = db.execute(
        select(SessionSuggestedFix).where(SessionSuggestedFix.id == c.fix.id).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.superseded_at is not None:
        defects.append("propose_outcome: the fix was replaced while the reply was written")
        return None
    if row.status not in fixes.OPEN_STATUSES:
        defects.append(f"propose_outcome: the fix's outcome is already recorded ({row.status})")
        return None
    proposal = {"outcome": outcome.outcome, "notes": outcome.notes, "reason": outcome.reason,
                "proposed_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "fix_id": str(row.id), "message_id": str(message_id)}
    row.ai_outcome_proposal = proposal
    db.flush()
    return proposal


def _record_facts(db: Session, session: AiSession, texts: list[str]) -> list[SessionFact]:
    """Source `assistant`, soft-deletable like any fact; a text already live on the session is not repeated."""
    live = {t.casefold() for t in db.execute(
        select(SessionFact.text).where(SessionFact.session_id == session.id, SessionFact.deleted_at.is_(None))
    ).scalars()}
    out = []
    for text in texts:
        if text.casefold() in live:
            continue
        live.add(text.casefold())
        out.append(insert_fact(db, session, text, created_by=None, source="assistant"))
    return out

