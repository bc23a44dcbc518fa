"""The poll's read of a job as a one-round-trip statement (see db/oneshot.py).

The writes of the job hot path (insert, claim, completion) live with every other status change in
shared/jobs/state_machine.py. Column lists are spelled out in the order given to `.columns()`, so the typed
result rows match positionally (UUIDs come back as uuid.UUID, JSONB as dicts) and serialize like an entity.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, Row, bindparam
from sqlalchemy.dialects.postgresql import UUID

from db.engine import Scope
from db.oneshot import OneShot, run
from shared.jobs.state_machine import PUBLIC_COLUMNS

READ = OneShot.of(
    f"SELECT {', '.join(c.name for c in PUBLIC_COLUMNS)} FROM jobs WHERE id = :job_id",
    bindparam("job_id", type_=UUID(as_uuid=True)), columns=PUBLIC_COLUMNS,
)


def read_job(engine: Engine, scope: Scope, job_id: uuid.UUID) -> Row[Any] | None:
    rows = run(engine, scope, READ, {"job_id": job_id})
    return rows[0] if rows else None
