"""preview.resolution_note / preview.escalation_package: bundle → generator → cached preview."""
from __future__ import annotations

import time
from typing import Any

from shared import previews
from shared.errors import JobError
from shared.llm.bundle import load_bundle
from shared.metrics import record_external_call, record_llm_tokens
from workers.context import JobContext


def _generate(ctx: JobContext, kind: str) -> dict[str, Any]:
    assert ctx.session_id is not None and ctx.account_id is not None
    # One snapshot for the whole bundle; the preview is stored under the version that snapshot saw.
    with ctx.tx(isolation="REPEATABLE READ") as db:
        bundle = load_bundle(db, ctx.session_id)
        hit = None if ctx.payload.get("force") else previews.cached(db, ctx.session_id, kind, bundle.state_version)
        if hit is not None:  # another job (or an earlier attempt) already paid for this version
            result = previews.preview_to_dict(hit, cached_hit=True)
            ctx.complete(db, result)
            return result
    generator = ctx.resources.generator
    res = ctx.resources
    with ctx.slot("llm"):  # no slot free: postponed before anything is called or counted
        started, status = time.monotonic(), None
        try:
            draft = generator.draft(kind, bundle)  # type: ignore[arg-type]
            status = 200
        except JobError as err:
            status = (err.detail or {}).get("status")
            raise
        finally:
            if generator.name != "offline":
                record_external_call(res.redis, res.namespace, provider=generator.name, status=status,
                                     seconds=time.monotonic() - started)
    if draft.usage:
        record_llm_tokens(res.redis, res.namespace, model=draft.model, usage=draft.usage)
    with ctx.tx() as db:
        row = previews.store(
            db,
            account_id=ctx.account_id,
            session_id=ctx.session_id,
            kind=kind,
            state_version=bundle.state_version,
            markdown=draft.markdown,
            generator=draft.generator,
            model=draft.model,
            usage=draft.usage or None,
            job_id=ctx.job_id,
            replace=bool(ctx.payload.get("force")),
        )
        result = previews.preview_to_dict(row, cached_hit=False)
        ctx.complete(db, result)
    return result


def resolution_note(ctx: JobContext) -> dict[str, Any]:
    return _generate(ctx, "resolution_note")


def escalation_package(ctx: JobContext) -> dict[str, Any]:
    return _generate(ctx, "escalation_package")
