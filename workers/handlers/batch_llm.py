"""batch.llm_poll: drive a regeneration batch through the provider's Message Batches API.

Each run does what is due and goes back to waiting (Postpone with its own backoff: no thread is held
between looks): cancel the provider batches of a cancelled batch; settle groups a crash left `submitting`
(asking the provider whether the create arrived before sending again); group waiting children into new
provider batches and submit them; look at submitted ones, and stream the results of each that ended,
completing every child in its own transaction. Recovery points are the group rows: `submitting` is written
before the create call, the provider id right after it, `collected` after the last result.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import func, select

from db.base import db_now
from db.models import Job, LlmProviderBatch
from shared import batch_llm, batches
from shared.jobs.service import JobRef, wake
from shared.llm.message_batches import MessageBatches
from workers.context import JobContext, Postpone

log = logging.getLogger(__name__)


def poll(ctx: JobContext) -> dict[str, Any]:
    batch_id = uuid.UUID(ctx.payload["batch_id"])
    client = MessageBatches.of(ctx.resources.generator)
    if client is None:  # this worker has no Anthropic generator: every parked child takes the normal path
        return _release_all(ctx, batch_id, "no Message Batches client")
    changed = _cancel_if_cancelled(ctx, batch_id, client)
    changed |= _settle_submitting(ctx, batch_id, client)
    changed |= _submit_new(ctx, batch_id, client)
    changed |= _look_and_collect(ctx, batch_id, client)
    with ctx.tx() as db:
        open_groups = db.execute(select(func.count()).select_from(LlmProviderBatch).where(
            LlmProviderBatch.batch_id == batch_id, LlmProviderBatch.status.in_(("submitting", "submitted")))
        ).scalar_one()
        batch = batches.get_batch(db, batch_id)
        more = batch.status != "cancelled" and bool(batch_llm.waiting_children(db, batch, batch.llm_cursor, 1))
    if open_groups or more:
        polls = 0 if changed else int((ctx.steps.get("polls") or {}).get("n", 0)) + 1
        ctx.record_step("polls", {"n": polls})
        settings = ctx.resources.settings
        delay = min(settings.flowpilot_llm_batch_poll_max_s, settings.flowpilot_llm_batch_poll_min_s * 2 ** min(polls, 12))
        raise Postpone("llm_batch_in_progress", f"{open_groups} provider batch(es) in progress", delay_s=delay)
    return _finish(ctx, batch_id)


def _deliver(ctx: JobContext, refs: list[JobRef]) -> None:
    if refs:
        ctx.resources.dispatcher.deliver(ctx.resources.engine, refs)


def _release_all(ctx: JobContext, batch_id: uuid.UUID, why: str) -> dict[str, Any]:
    with ctx.tx() as db:
        refs = wake(db, Job.batch_id == batch_id, Job.payload["via"].astext == batch_llm.VIA)
    _deliver(ctx, refs)
    return {"batch_id": str(batch_id), "released": len(refs), "reason": why}


def _record(ctx: JobContext, group_id: uuid.UUID, state: Any, **also: Any) -> bool:
    """Store the provider's view of a group on its row (locked), with `also`; True if status or counts moved."""
    with ctx.tx() as db:
        group = db.get(LlmProviderBatch, group_id, with_for_update=True)
        assert group is not None
        before = (group.processing_status, group.request_counts)
        batch_llm.record_state(group, state)
        for column, value in also.items():
            setattr(group, column, value)
        return before != (group.processing_status, group.request_counts)


def _cancel_if_cancelled(ctx: JobContext, batch_id: uuid.UUID, client: MessageBatches) -> bool:
    with ctx.tx() as db:
        if batches.get_batch(db, batch_id).status != "cancelled":
            return False
        todo = [(g.id, g.provider_batch_id) for g in batch_llm.groups(db, batch_id)
                if g.status == "submitted" and g.cancel_requested_at is None and g.processing_status != "ended"]
    for group_id, provider_id in todo:
        assert provider_id is not None
        _record(ctx, group_id, client.cancel(provider_id), cancel_requested_at=func.now())
    return bool(todo)


def _settle_submitting(ctx: JobContext, batch_id: uuid.UUID, client: MessageBatches) -> bool:
    """Groups whose create call may have been in flight when a worker died: adopt the provider batch it made,
    wait while that cannot be told yet, or send again when it never arrived."""
    with ctx.tx() as db:
        pending = [(g.id, g.submit_started_at, g.request_count, set(g.requests)) for g in batch_llm.groups(db, batch_id)
                   if g.status == "submitting"]
        known = {pid for pid in db.execute(select(LlmProviderBatch.provider_batch_id)
                                           .where(LlmProviderBatch.provider_batch_id.is_not(None))).scalars() if pid}
    changed = False
    for group_id, since, count, custom_ids in pending:
        assert since is not None
        found, unsure = client.find_submitted(since, count, custom_ids, known)
        if unsure and found is None:
            continue  # a candidate still in progress: look again next run
        if found is not None:
            _record(ctx, group_id, client.retrieve(found))
            changed = True
            continue
        with ctx.tx(isolation="REPEATABLE READ") as db:
            batch = batches.get_batch(db, batch_id)
            group = db.get(LlmProviderBatch, group_id, with_for_update=True)
            assert group is not None
            requests = batch_llm.rebuild_requests(db, batch, group, client)
            send = bool(requests) and batch.status != "cancelled"
            if not send:
                group.status = "abandoned"
        if send:
            _send(ctx, group_id, requests, client)
        changed = True
    return changed


def _send(ctx: JobContext, group_id: uuid.UUID, requests: list[dict[str, Any]], client: MessageBatches) -> None:
    state = client.create(requests)  # transient errors: the job retries, and the group is settled first
    _record(ctx, group_id, state)
    log.info("provider batch %s submitted: %d requests", state.id, len(requests))


def _submit_new(ctx: JobContext, batch_id: uuid.UUID, client: MessageBatches) -> bool:
    settings = ctx.resources.settings
    changed = False
    while True:
        with ctx.tx(isolation="REPEATABLE READ") as db:
            batch = batches.get_batch(db, batch_id)
            if batch.status == "cancelled":
                return changed
            group = batch_llm.next_group(db, batch, client, max_requests=settings.flowpilot_llm_batch_max_requests,
                                         max_bytes=settings.flowpilot_llm_batch_max_bytes, prices=settings.llm_prices)
            if group is None:
                return changed
            for child_id, code, message in group.failed:
                batch_llm.fail_child(db, child_id, code, message)
            group_id = group.row.id if group.requests else None
        changed = True
        if group_id is not None:
            _send(ctx, group_id, group.requests, client)


def _look_and_collect(ctx: JobContext, batch_id: uuid.UUID, client: MessageBatches) -> bool:
    with ctx.tx() as db:
        submitted = [(g.id, g.provider_batch_id) for g in batch_llm.groups(db, batch_id) if g.status == "submitted"]
    changed = False
    for group_id, provider_id in submitted:
        assert provider_id is not None
        state = client.retrieve(provider_id)
        changed |= _record(ctx, group_id, state)
        if state.ended:
            _collect(ctx, batch_id, group_id, provider_id, client)
            changed = True
    return changed


def _collect(ctx: JobContext, batch_id: uuid.UUID, group_id: uuid.UUID, provider_id: str,
             client: MessageBatches) -> None:
    """Stream the results; each child completes in its own transaction (a replay skips finished ones)."""
    with ctx.tx() as db:
        batch = batches.get_batch(db, batch_id)
        kind = batch_llm.preview_kind(batch)
        group = db.get(LlmProviderBatch, group_id)
        assert group is not None
        versions = dict(group.requests)
        kinds = {custom_id: kind for custom_id in versions}
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for n, outcome in enumerate(client.results(provider_id, kinds), 1):
        seen.add(outcome.custom_id)
        with ctx.tx() as db:
            batch = batches.get_batch(db, batch_id)
            what, refs = batch_llm.apply_outcome(db, batch, versions, provider_id, outcome)
            if what != "skipped":
                batch_llm.add_applied(db, group_id, 1)
        _deliver(ctx, refs)
        counts[what] = counts.get(what, 0) + 1
        if n % 50 == 0:
            ctx.set_progress({"provider_batch_id": provider_id, "results": n, **counts})
    with ctx.tx() as db:
        group = db.get(LlmProviderBatch, group_id, with_for_update=True)
        assert group is not None
        missing = [uuid.UUID(c) for c in group.requests if c not in seen]  # no result line: the normal path
        refs = batch_llm.release(db, *missing)
        group.status, group.collected_at = "collected", db_now()
    _deliver(ctx, refs)
    log.info("provider batch %s collected: %s", provider_id, counts)


def _finish(ctx: JobContext, batch_id: uuid.UUID) -> dict[str, Any]:
    with ctx.tx() as db:
        rows = batch_llm.groups(db, batch_id)
        result = {"batch_id": str(batch_id), "provider_batches": len(rows),
                  "requests": sum(g.request_count for g in rows if g.status != "abandoned")}
        ctx.complete(db, result)
    return result
