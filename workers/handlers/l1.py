"""l1.next_node: the generator proposes the next question of an ai_build walk; it becomes the current node."""
from __future__ import annotations

import uuid
from typing import Any

from shared.l1 import ai_build
from workers.context import JobContext


def next_node(ctx: JobContext) -> dict[str, Any]:
    session_id = uuid.UUID(str(ctx.payload["l1_session_id"]))
    expected = int(ctx.payload.get("ai_nodes", 0))
    observation = ctx.payload.get("observation")
    with ctx.tx() as db:
        context = ai_build.load_context(db, session_id, observation)
        if context is None:  # resolved or escalated before we ran: nothing to propose
            result: dict[str, Any] = {"session_id": str(session_id), "node": None, "applied": False,
                                      "reason": "session_finished"}
            ctx.complete(db, result)
            return result
    generator = ctx.resources.generator
    with ctx.slot("llm"):
        proposal = generator.next_node(context)  # no transaction held across the call
    with ctx.tx() as db:
        node, applied, reason = ai_build.apply_node(db, session_id, expected, proposal, generator.name)
        result = {"session_id": str(session_id), "node": node, "applied": applied, "reason": reason,
                  "generator": generator.name, "model": proposal.get("model"), "usage": proposal.get("usage")}
        ctx.complete(db, result)  # the node and the job's success commit together
    return result
