"""Bounds on everything a tenant user can grow, in one place, and the errors that say them.

Each bound answers with a stable code that names the limit (`extra["limit"]`), and writes nothing: a
tenant must not be able to make one request, one job or one table cost without limit (a batch that
enqueues millions of children, an intake that re-scores thousands of flows, a sleep that holds a worker
thread for a minute).
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.errors import Conflict, Invalid

MAX_BATCH_SESSIONS = 50_000  # sessions one batch may reprocess (children it creates)
MAX_ACTIVE_BATCHES = 5  # expanding or running batches per tenant
MAX_TENANT_ECHO_DELAY_MS = 1_000  # system.echo's sleep for tenant admins (operators: up to 60 s)
MAX_FACTS_PER_SESSION = 100  # facts a session keeps, deleted ones included (they stay in its history)
MAX_FACT_CHARS = 4_000
MAX_PUBLISHED_FLOWS = 2_000  # what one intake scores (through the cached index, shared/l1/flow_index.py)
MAX_FLOWS = 5_000  # drafts included
MAX_CATEGORIES = 200  # what one intake classifies against
MAX_PSA_CONNECTIONS = 25
MAX_PAGE = 200  # `limit` of tenant list endpoints
MAX_OPS_PAGE = 500  # `limit` of the operators' job listing


def reached(code: str, what: str, limit: int) -> Conflict:
    """409: the tenant already has as many of `what` as allowed."""
    return Conflict(code, f"at most {limit} {what}", extra={"limit": limit})


def too_large(code: str, field: str, message: str, limit: int) -> Invalid:
    """422 on `field`: the request asks for more than `limit`."""
    return Invalid(code, message, errors=[{"field": field, "message": message}], extra={"limit": limit})


def lock_tenant(db: Session, account_id: uuid.UUID, what: str) -> None:
    """Serialize one tenant's creations of `what` until commit, so a count-then-insert bound holds under races."""
    db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{what}:{account_id}", 0))))
