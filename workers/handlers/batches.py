"""batch.expand: create the batch's children chunk by chunk, one transaction and one pipelined enqueue each."""
from __future__ import annotations

import uuid
from typing import Any

from db.base import db_now
from shared import batch_llm, batches
from shared.llm.message_batches import MessageBatches
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
            settings = ctx.resources.settings
            mode = batch_llm.choose_mode(db, batch, threshold=settings.flowpilot_llm_batch_threshold,
                                         has_message_batches=MessageBatches.of(ctx.resources.generator) is not None)
            park = batch_llm.parked_until() if mode == batch_llm.MESSAGE_BATCHES else None
            refs, finished = batches.expand_chunk(db, batch, ctx.created_by, park_until=park)
            if finished:
                batch.status = "running" if batch.total else "succeeded"
                if not batch.total:
                    batch.finished_at = db_now()
                elif park is not None:  # the poller groups the parked children into provider batches
                    refs.append(batch_llm.start_polling(db, batch))
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
