"""assistant.reply: snapshot → generator (streaming into progress) → the message and its effects, at once.

Three transactions, none held across the LLM call: one REPEATABLE READ snapshot; short progress writes
while the text grows (throttled); one transaction that stores the assistant message with its effects,
bumps state_version once and completes the job. A retried attempt (timeout, 529) regenerates from a
fresh snapshot; the reply is stored once per job, so no attempt can add a second message.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from shared.assistant.effects import result_of, store_reply, stored_reply
from shared.assistant.snapshot import load_conversation
from shared.llm.conversation import AssistantReply
from shared.metrics import record_assistant_defects
from workers.context import JobContext

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25


class PartialText:
    """Write the reply so far to the job's progress: the first piece at once, then at most every interval.

    The generator calls it on every text delta and, while a tool call streams, again with the same text, so
    the last words before a tool call are written once the interval allows; unchanged text is never rewritten.
    """

    def __init__(self, ctx: JobContext, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self.last = float("-inf")
        self.written = ""

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if text != self.written and now - self.last >= self.interval_s:
            self.last, self.written = now, text
            self.ctx.set_progress({"partial": text})


def _report_defects(ctx: JobContext, generator: str, defects: list[str]) -> None:
    """Malformed, partial or stale proposals were dropped (the text was stored): log and count them."""
    if defects:
        log.warning("assistant reply (job %s) kept its text but dropped: %s", ctx.job_id, "; ".join(defects))
        res = ctx.resources
        record_assistant_defects(res.redis, res.namespace, generator=generator, count=len(defects))


def reply(ctx: JobContext) -> dict[str, Any]:
    assert ctx.session_id is not None
    message_id = uuid.UUID(str(ctx.payload["message_id"]))
    result: dict[str, Any]
    # Reads only: a write here could meet the heartbeat's update of our job row (a serialization error).
    with ctx.tx(isolation="REPEATABLE READ") as db:
        done = stored_reply(db, ctx.job_id)
        conversation = load_conversation(db, ctx.session_id, message_id)
    if done is not None:  # an earlier attempt stored it and its completion was lost: finish, add nothing
        with ctx.tx() as db:
            result = result_of(done, conversation.state_version)
            ctx.complete(db, result)
        return result
    if ctx.attempt > 1:
        ctx.set_progress(None)  # the failed attempt's partial text is not this attempt's
    generator = ctx.resources.generator
    answer: AssistantReply = ctx.llm(lambda: generator.reply(conversation, PartialText(ctx)))
    with ctx.tx() as db:
        result = store_reply(db, conversation, answer, job_id=ctx.job_id)
        ctx.set_progress(None, db)  # the stored message replaces the partial text
        ctx.complete(db, result)
    _report_defects(ctx, answer.generator, result["defects"])
    return result
