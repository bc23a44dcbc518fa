"""template.extract: the generator proposes a parameterization; the result becomes a pending draft template."""
from __future__ import annotations

import uuid
from typing import Any

from db.models import DraftTemplate, SessionSuggestedFix
from shared.errors import PermanentError
from shared.sessions.service import live_facts
from workers.context import JobContext


def extract(ctx: JobContext) -> dict[str, Any]:
    fix_id = uuid.UUID(ctx.payload["fix_id"])
    script = str(ctx.payload["script"])
    with ctx.tx() as db:
        fix = db.get(SessionSuggestedFix, fix_id)
        if fix is None:
            raise PermanentError("fix_not_found", "the suggested fix no longer exists")
        title, session_id, account_id = fix.title, fix.session_id, fix.account_id
        facts = [f.text for f in live_facts(db, session_id)]
    with ctx.slot("llm"):
        proposal = ctx.resources.generator.extract_template(script, facts)  # no transaction held across the call
    with ctx.tx() as db:
        draft = DraftTemplate(
            id=uuid.uuid4(),
            account_id=account_id,
            source_session_id=session_id,
            source_fix_id=fix_id,
            source_user_id=ctx.created_by,
            script_body=proposal.templated_body or script,
            proposed_parameters={"parameters": proposal.parameters},
            proposed_name=title[:200] if title else None,
            status="pending",
        )
        db.add(draft)
        db.flush()
        result = {
            "draft_template_id": str(draft.id),
            "proposed_name": draft.proposed_name,
            "templated_body": draft.script_body,
            "parameters": proposal.parameters,
            "generator": ctx.resources.generator.name,
        }
        ctx.complete(db, result)  # the draft and the job's success commit together
    return result
