"""A batch's dry run: how many sessions a filter hits and the first few, without creating anything.

Why bounded: an admin trying filters on a huge tenant must get an answer in about a second. The count
runs over the same indexed query the expansion pages through, capped at the batch limit + 1, under a
statement timeout; a count that runs out of time answers `total_at_least` (a smaller bounded count, else
what the sample saw) instead of holding the request.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.models import AiSession
from shared import limits
from shared.batches import sessions_for
from shared.isotime import iso

SAMPLE = 20
FALLBACK_COUNT = 1_000  # the smaller count tried after the full one ran out of time
TITLE_CHARS = 120
QUERY_CANCELED = "57014"  # Postgres: statement timeout


def _title(intake: dict[str, Any] | None, ticket: str | None) -> str:
    problem = str((intake or {}).get("problem") or (intake or {}).get("summary") or "").strip()
    if problem:
        return problem if len(problem) <= TITLE_CHARS else problem[: TITLE_CHARS - 1] + "…"
    return f"Ticket #{ticket}" if ticket else "(no problem text)"


def _bounded_count(db: Session, stmt: Any, cap: int, timeout_ms: int) -> int | None:
    """count(*) over at most `cap` rows of `stmt`, or None when it ran out of time (the savepoint undoes
    both the cancelled statement and the timeout setting)."""
    try:
        with db.begin_nested():
            previous = db.execute(select(func.current_setting("statement_timeout"))).scalar_one()
            db.execute(select(func.set_config("statement_timeout", str(int(timeout_ms)), True)))
            counted = db.execute(select(func.count()).select_from(stmt.limit(cap).subquery())).scalar_one()
            db.execute(select(func.set_config("statement_timeout", previous, True)))
            return int(counted)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED or getattr(exc.orig, "pgcode", None) == QUERY_CANCELED:
            return None
        raise


def dry_run(db: Session, *, account_id: uuid.UUID, action: str, flt: dict[str, Any],
            timeout_ms: int) -> dict[str, Any]:
    """{"total", "sample", "limit", "exceeds_limit"} (+ "total_at_least" when the count was cut short)."""
    cap = limits.MAX_BATCH_SESSIONS
    matching = sessions_for(action, flt).where(AiSession.account_id == account_id)
    first = db.execute(matching.add_columns(AiSession.intake, AiSession.psa_ticket_id, AiSession.status,
                                            AiSession.updated_at)
                       .order_by(AiSession.created_at, AiSession.id).limit(SAMPLE)).all()
    sample = [{"id": str(r.id), "title": _title(r.intake, r.psa_ticket_id), "status": r.status,
               "ticket_id": r.psa_ticket_id, "updated_at": iso(r.updated_at)} for r in first]
    body: dict[str, Any] = {"sample": sample, "limit": cap}
    if len(first) < SAMPLE:  # the sample is everything: no count needed
        return {**body, "total": len(first), "exceeds_limit": False}
    total = _bounded_count(db, matching, cap + 1, timeout_ms)
    if total is not None and total <= cap:
        return {**body, "total": total, "exceeds_limit": False}
    if total is not None:  # more than one batch may take
        return {**body, "total": None, "total_at_least": total, "exceeds_limit": True}
    smaller = _bounded_count(db, matching, FALLBACK_COUNT + 1, timeout_ms)
    if smaller is not None and smaller <= FALLBACK_COUNT:
        return {**body, "total": smaller, "exceeds_limit": False}
    return {**body, "total": None, "total_at_least": smaller if smaller is not None else len(first),
            "exceeds_limit": False, "count_timed_out": True}
