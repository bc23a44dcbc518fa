"""Regeneration batches through the provider's Message Batches API: the database side.

The children are ordinary preview jobs, parked (`not_before`) so no worker claims them: the polling job
(workers/handlers/batch_llm.py) groups them into provider batches, and completes each from its own result
in one transaction — the preview stored under the state_version its bundle snapshot saw, as the
interactive path does. A child whose request errored, expired or was cancelled at the provider goes back
to the normal path (woken: due now) or fails with the provider's reason. A child nothing completes within
PARK runs on its own, so a lost poller costs time, never work.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, func, select, update
from sqlalchemy.orm import Session

from db.base import db_now
from db.models import Batch, Job, LlmProviderBatch
from shared import previews
from shared.batches import count_matching
from shared.errors import DomainError
from shared.isotime import iso
from shared.jobs import state_machine
from shared.jobs.kinds import BATCH
from shared.jobs.service import JobRef, create_job, wake
from shared.llm.bundle import load_bundle
from shared.llm.message_batches import MessageBatches, Outcome, ProviderState
from shared.llm.pricing import Prices

PER_CALL, MESSAGE_BATCHES = "per_call", "message_batches"
REGENERATE = ("regenerate_resolution_note", "regenerate_escalation_package")
VIA = "message_batch"  # a child's payload and result say it went (or goes) through a provider batch
PARK = timedelta(hours=26)  # the provider's 24 h expiry, and a margin
POLL_KIND = "batch.llm_poll"
PAGE = 500
# errored results another attempt can get past: the child goes back to the normal path
RETRYABLE_ERRORS = {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}


def choose_mode(db: Session, batch: Batch, *, has_message_batches: bool, threshold: int) -> str:
    """Once per batch, before its first child: Message Batches for regenerations of `threshold`+ sessions."""
    if batch.llm_mode is None:
        mode = PER_CALL
        if has_message_batches and batch.action in REGENERATE:
            n = count_matching(db, batch.account_id, batch.action, batch.filter or {}, threshold)
            mode = MESSAGE_BATCHES if n >= threshold else PER_CALL
        batch.llm_mode = mode
    return batch.llm_mode


def parked_until() -> datetime:
    return datetime.now(UTC) + PARK


def start_polling(db: Session, batch: Batch) -> JobRef:
    job, _ = create_job(db, account_id=batch.account_id, kind=POLL_KIND, payload={"batch_id": str(batch.id)},
                        created_by=batch.created_by, queue=BATCH, dedupe_key=f"{POLL_KIND}:{batch.id}")
    return JobRef.of(job)


def preview_kind(batch: Batch) -> Any:
    return "resolution_note" if batch.action == "regenerate_resolution_note" else "escalation_package"


@dataclass
class Group:
    row: LlmProviderBatch
    requests: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)  # (child, code, message)


def waiting_children(db: Session, batch: Batch, after: str | None, limit: int) -> list[Any]:
    stmt = select(Job.id, Job.session_id).where(
        Job.batch_id == batch.id, Job.status.in_(state_machine.WAITING), Job.payload["via"].astext == VIA)
    if after:
        stmt = stmt.where(Job.id > uuid.UUID(after))
    return list(db.execute(stmt.order_by(Job.id).limit(limit)).all())


def next_group(db: Session, batch: Batch, client: MessageBatches, *, max_requests: int, max_bytes: int,
               prices: Prices) -> Group | None:
    """The next provider batch, recorded as `submitting` before anything is sent (the recovery point).

    Call in a REPEATABLE READ transaction: every bundle comes from one snapshot, and each request's
    state_version is recorded beside its custom_id. Bounded by `max_requests` and `max_bytes`.
    """
    kind = preview_kind(batch)
    seq = db.execute(select(func.coalesce(func.max(LlmProviderBatch.seq), 0))
                     .where(LlmProviderBatch.batch_id == batch.id)).scalar_one() + 1
    group = Group(LlmProviderBatch(id=uuid.uuid4(), account_id=batch.account_id, batch_id=batch.id, seq=seq,
                                   status="submitting", requests={}))
    size, tokens_in, tokens_out, cursor, full = 0, 0, 0, batch.llm_cursor, False
    while not full:
        rows = waiting_children(db, batch, cursor, min(PAGE, max_requests - len(group.requests)))
        if not rows:
            break
        for row in rows:
            try:
                bundle = load_bundle(db, row.session_id)
            except DomainError as err:  # the session is gone: nothing to draft
                group.failed.append((row.id, err.code, err.message))
                cursor = str(row.id)
                continue
            request = client.request(str(row.id), kind, bundle)
            n = client.size(request)
            if group.requests and (size + n > max_bytes or len(group.requests) >= max_requests):
                full = True
                break
            group.requests.append(request)
            group.row.requests[str(row.id)] = bundle.state_version
            size += n
            tokens_in += prices.estimate_input_tokens(request)
            tokens_out += prices.estimate_output_tokens(request)
            cursor = str(row.id)
        if len(group.requests) >= max_requests:
            full = True
    batch.llm_cursor = cursor
    if not group.requests:
        return group if group.failed else None
    group.row.request_count, group.row.request_bytes = len(group.requests), size
    group.row.estimate = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    group.row.submit_started_at = db_now()
    db.add(group.row)
    db.flush()
    return group


def rebuild_requests(db: Session, batch: Batch, group: LlmProviderBatch, client: MessageBatches) -> list[dict[str, Any]]:
    """A `submitting` group the provider never received: its still-waiting children, from fresh snapshots."""
    kind = preview_kind(batch)
    ids = [uuid.UUID(i) for i in group.requests]
    rows = db.execute(select(Job.id, Job.session_id).where(Job.id.in_(ids),
                                                           Job.status.in_(state_machine.WAITING))).all()
    requests, versions = [], {}
    for row in rows:
        try:
            bundle = load_bundle(db, row.session_id)
        except DomainError:
            continue  # the poller's final sweep releases it to the normal path, which fails it in words
        requests.append(client.request(str(row.id), kind, bundle))
        versions[str(row.id)] = bundle.state_version
    group.requests, group.request_count = versions, len(requests)
    group.submit_started_at = db_now()
    return requests


def record_state(group: LlmProviderBatch, state: ProviderState) -> None:
    group.provider_batch_id = state.id
    if group.status == "submitting":
        group.status, group.submitted_at = "submitted", db_now()
    group.processing_status = state.processing_status
    group.request_counts = state.request_counts
    group.expires_at, group.ended_at = state.expires_at, state.ended_at


def fail_child(db: Session, child_id: uuid.UUID, code: str, message: str) -> bool:
    token = uuid.uuid4()
    if not state_machine.adopt(db, child_id, token):
        return False
    return state_machine.fail(db, child_id, token, {"code": code, "message": message, "detail": {"via": VIA}})


def release(db: Session, *child_ids: uuid.UUID) -> list[JobRef]:
    """Back to the normal path: due now (dispatch the refs after commit)."""
    return wake(db, Job.id.in_(child_ids)) if child_ids else []


def wake_poller(db: Session, batch_id: uuid.UUID) -> list[JobRef]:
    """The batch's poller, due now (a cancel it must pass on to the provider); dispatch after commit."""
    return wake(db, Job.kind == POLL_KIND, Job.payload["batch_id"].astext == str(batch_id))


def apply_outcome(db: Session, batch: Batch, versions: dict[str, Any], provider_batch_id: str | None,
                  outcome: Outcome) -> tuple[str, list[JobRef]]:
    """Complete one child from its result, in the caller's (one) transaction: what happened, refs to dispatch.

    `versions`: the group's {custom_id: state_version} (read once per results stream, not per line).
    """
    try:
        child_id = uuid.UUID(outcome.custom_id)
    except ValueError:
        return "unknown", []
    version = versions.get(outcome.custom_id)
    child = db.execute(select(Job.session_id, Job.status).where(Job.id == child_id, Job.batch_id == batch.id)
                       ).one_or_none()
    if version is None or child is None or child.status not in state_machine.WAITING:
        return "skipped", []  # not ours, or already completed / cancelled (a replay after a crash)
    if outcome.type == "succeeded" and outcome.draft is not None:
        token = uuid.uuid4()
        if not state_machine.adopt(db, child_id, token):
            return "skipped", []
        draft = outcome.draft
        row = previews.store(db, account_id=batch.account_id, session_id=child.session_id, kind=draft.kind,
                             state_version=int(version), markdown=draft.markdown, generator=draft.generator,
                             model=draft.model, usage={**(draft.usage or {}), "batch": True}, job_id=child_id,
                             replace=True)
        result = previews.preview_to_dict(row, cached_hit=False) | {
            "via": VIA, "provider_batch_id": provider_batch_id}
        state_machine.succeed(db, child_id, token, result)
        return "succeeded", []
    if outcome.type == "unusable":
        fail_child(db, child_id, outcome.code or "llm_invalid_output", outcome.message or "unusable answer")
        return "failed", []
    if outcome.type == "errored" and outcome.error_type not in RETRYABLE_ERRORS:
        fail_child(db, child_id, "llm_batch_request_failed",
                   f"Anthropic refused the request ({outcome.error_type}): {outcome.message}")
        return "failed", []
    if outcome.type == "canceled" and batch.status == "cancelled":
        return "skipped", []  # cancel_batch already cancelled it
    return "released", release(db, child_id)  # retryable error, expired, cancelled at the provider


def add_applied(db: Session, group_id: uuid.UUID, n: int) -> None:
    db.execute(update(LlmProviderBatch).where(LlmProviderBatch.id == group_id)
               .values(results_applied=LlmProviderBatch.results_applied + n))


def groups(db: Session, batch_id: uuid.UUID) -> list[LlmProviderBatch]:
    return list(db.execute(select(LlmProviderBatch).where(LlmProviderBatch.batch_id == batch_id)
                           .order_by(LlmProviderBatch.seq)).scalars())


def usage_totals(db: Session, batch_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """Tokens the batch's succeeded children used, split by how they were asked (provider batch or per call)."""
    usage = Job.result["usage"]
    tokens = {key: func.coalesce(func.sum(usage[key].astext.cast(Integer)), 0)
              for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")}
    via = func.coalesce(Job.result["via"].astext, "call")
    rows = db.execute(select(via.label("via"), func.count().label("n"), *(t.label(k) for k, t in tokens.items()))
                      .where(Job.batch_id == batch_id, Job.status == state_machine.SUCCEEDED).group_by(via)).all()
    return {r.via: {"requests": int(r.n), **{k: int(getattr(r, k)) for k in tokens}} for r in rows}


def llm_to_dict(db: Session, batch: Batch, prices: Prices) -> dict[str, Any]:
    """The batch's LLM side: mode, provider batches, estimated and actual cost (USD)."""
    rows = groups(db, batch.id)
    estimate = {"input_tokens": sum((g.estimate or {}).get("input_tokens", 0) for g in rows),
                "output_tokens": sum((g.estimate or {}).get("output_tokens", 0) for g in rows)}
    used = usage_totals(db, batch.id)
    return {
        "mode": batch.llm_mode,
        "provider_batches": [{"seq": g.seq, "provider_batch_id": g.provider_batch_id, "status": g.status,
                              "processing_status": g.processing_status, "request_count": g.request_count,
                              "request_counts": g.request_counts, "results_applied": g.results_applied,
                              "submitted_at": iso(g.submitted_at), "ended_at": iso(g.ended_at),
                              "expires_at": iso(g.expires_at)} for g in rows],
        "cost": prices.cost_report(estimate if rows else None, used),
    }
