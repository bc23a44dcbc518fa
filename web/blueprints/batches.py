"""Batches (admin, owner; operators across tenants naming the account)."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import Blueprint, jsonify, request
from pydantic import Field

from db.models import Account, Batch
from shared import batch_dry_run, batch_llm, batches, limits
from shared.errors import Invalid, NotFound
from shared.jobs.serialize import job_to_dict
from shared.jobs.service import JobRef
from web.auth import ADMIN_UP, principal, require
from web.db import db, dispatch_after_commit, notify_after_commit
from web.openapi import doc
from web.state import state
from web.validation import Strict, Timestamp, parse_body

bp = Blueprint("batches", __name__, url_prefix="/api/v1/batches")

Action = Literal["regenerate_resolution_note", "regenerate_escalation_package", "retry_failed_writebacks",
                 "reverify_ticket_status"]


class BatchFilter(Strict):
    session_ids: list[uuid.UUID] | None = Field(default=None, max_length=limits.MAX_BATCH_SESSIONS)
    status: Literal["active", "paused", "requesting_escalation", "escalated", "resolved"] | None = None
    updated_since: Timestamp | None = None
    updated_before: Timestamp | None = None


class BatchCreate(Strict):
    action: Action
    filter: BatchFilter = Field(default_factory=BatchFilter)
    account_id: uuid.UUID | None = Field(default=None, description="operators only: the tenant to reprocess")
    dry_run: bool = Field(default=False, description="count the sessions and show the first 20; create nothing")


@bp.post("")
@require(*ADMIN_UP, operator=True)
@doc("Start a batch; a batch.expand job creates its children on the batch queue. With dry_run: 200 with "
     "{total | total_at_least, sample, limit} and nothing created", body=BatchCreate, status=202)
def create() -> Any:
    body = parse_body(BatchCreate)
    p = principal()
    if p.is_operator:
        if body.account_id is None:
            raise Invalid("validation_failed", "operators must name the account_id to reprocess",
                           errors=[{"field": "account_id", "message": "required for operators"}])
        if db().get(Account, body.account_id) is None:
            raise NotFound("account_not_found", "no such account")
        account_id = body.account_id
    else:
        if body.account_id is not None and body.account_id != p.account_id:
            raise NotFound("account_not_found", "no such account")
        account_id = p.tenant_id
    flt = body.filter.model_dump(mode="json", exclude_none=True)
    if body.dry_run:
        timeout_ms = state().settings.flowpilot_batch_count_timeout_ms
        return jsonify({"action": body.action, "filter": flt, **batch_dry_run.dry_run(
            db(), account_id=account_id, action=body.action, flt=flt, timeout_ms=timeout_ms)}), 200
    batch, job = batches.create_batch(db(), account_id=account_id, action=body.action, flt=flt, user_id=p.user_id)
    dispatch_after_commit(JobRef.of(job))
    return jsonify({"batch": _to_dict(batch), "expand_job": job_to_dict(job)}), 202


def _to_dict(batch: Batch) -> dict[str, Any]:
    return batches.batch_to_dict(db(), batch, state().settings.llm_prices)


@bp.get("")
@require(*ADMIN_UP)
@doc("The account's latest batches (newest first, `limit` ≤ 100), each with its progress")
def list_() -> Any:
    limit = max(1, min(100, request.args.get("limit", default=20, type=int) or 20))
    return jsonify({"items": [_to_dict(b) for b in batches.list_batches(db(), limit)]})


@bp.get("/<uuid:batch_id>")
@require(*ADMIN_UP, operator=True)
@doc("Batch progress, counted from its children (read-only: the sweeper settles finished batches); failed "
     "children with their errors; for regenerations the LLM mode, provider batches and token cost")
def get(batch_id: uuid.UUID) -> Any:
    return jsonify(_to_dict(batches.get_batch(db(), batch_id)))


@bp.post("/<uuid:batch_id>/retry-failed")
@require(*ADMIN_UP, operator=True)
@doc("Retry every failed child (per call); the ones that cannot be retried are listed in `refused`")
def retry_failed(batch_id: uuid.UUID) -> Any:
    batch = batches.get_batch(db(), batch_id, for_update=True)
    refs, refused = batches.retry_failed(db(), batch, principal().user_id)
    for ref in refs:
        dispatch_after_commit(ref)
    db().flush()
    return jsonify({"batch": _to_dict(batch), "retried": len(refs), "refused": refused})


@bp.post("/<uuid:batch_id>/cancel")
@require(*ADMIN_UP, operator=True)
@doc("Cancel: queued children stop at once, running ones finish")
def cancel(batch_id: uuid.UUID) -> Any:
    batch = batches.get_batch(db(), batch_id, for_update=True)
    cancelled = batches.cancel_batch(db(), batch)
    notify_after_commit(*cancelled)
    # Its poller (Message Batches) wakes now to cancel the provider batches too.
    for ref in batch_llm.wake_poller(db(), batch.id):
        dispatch_after_commit(ref)
    db().flush()
    return jsonify(_to_dict(batch))
