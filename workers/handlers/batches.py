"""batch.expand: create the batch's children chunk by chunk, one transaction and one pipelined enqueue each."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func

from shared import batches
from workers.context import JobContext


def expand(ctx: JobContext) -> dict[str, Any]:
    batch_id = uuid.UUID(ctx.payload["batch_id"])
    chunks = 0
    while True:
        with ctx.tx() as db:
            batch = batches.get_batch(db, batch_id, for_update=True)
            if batch.status != "expanding":  # cancelled meanwhile (or already expanded by an earlier attempt)
                result = {"batch_id": str(batch_id), "total": batch.total, "stopped": batch.status}
                ctx.complete(db, result)
                return result
            refs, finished = batches.expand_chunk(db, batch, ctx.created_by)
            if finished:
                batch.status = "running" if batch.total else "succeeded"
                if not batch.total:
                    batch.finished_at = func.now()  # type: ignore[assignment]
            db.flush()
            total = batch.total
            result = {"batch_id": str(batch_id), "total": total, "chunks": chunks + 1}
            if finished:
                ctx.complete(db, result)
            else:
                ctx.set_progress({"children": total, "chunks": chunks + 1}, db)
        # After commit: the rows exist, so the doorbells may ring. Failures are re-sent by the sweeper.
        ctx.resources.dispatcher.deliver(ctx.resources.engine, refs)
        chunks += 1
        if finished:
            return result
