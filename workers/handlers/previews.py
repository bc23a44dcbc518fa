"""preview.resolution_note / preview.escalation_package: bundle → generator → cached preview."""
from __future__ import annotations

from typing import Any

from shared import previews
from shared.llm.bundle import load_bundle
from shared.llm.sections import PreviewKind
from workers.context import JobContext


def _generate(ctx: JobContext, kind: PreviewKind) -> dict[str, Any]:
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
    draft = ctx.llm(lambda: generator.draft(kind, bundle))
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
