"""Job kinds the web may create: their queue and attempt budget (actor name == kind)."""
from __future__ import annotations

from dataclasses import dataclass

INTERACTIVE = "interactive"
BATCH = "batch"
QUEUES = (INTERACTIVE, BATCH)


@dataclass(frozen=True)
class KindSpec:
    queue: str = INTERACTIVE
    max_attempts: int = 5
    # Calls the tenant's PSA: each job reserves one of its tenant's share of a worker's threads before its
    # claim (workers/delivery.py), since the tenant's server decides how long the job holds the thread.
    uses_psa: bool = False


KINDS: dict[str, KindSpec] = {
    "system.echo": KindSpec(max_attempts=5),
    "template.extract": KindSpec(max_attempts=5),
    "preview.resolution_note": KindSpec(max_attempts=6),
    "preview.escalation_package": KindSpec(max_attempts=6),
    "writeback.resolution_note": KindSpec(max_attempts=8, uses_psa=True),
    "writeback.escalation_package": KindSpec(max_attempts=8, uses_psa=True),
    "l1.next_node": KindSpec(max_attempts=5),
    # Admin set-up: a test answers at once (its result says what failed); lists retry a little.
    "psa.test_connection": KindSpec(max_attempts=1, uses_psa=True),
    "psa.list_boards": KindSpec(max_attempts=3, uses_psa=True),
    "psa.list_statuses": KindSpec(max_attempts=3, uses_psa=True),
    "assistant.reply": KindSpec(max_attempts=5),
    "writeback.reverify": KindSpec(queue=BATCH, max_attempts=5, uses_psa=True),
    "batch.expand": KindSpec(queue=BATCH, max_attempts=10),
    # Polls its provider batches; waiting between looks costs no attempt (Postpone), errors do.
    "batch.llm_poll": KindSpec(queue=BATCH, max_attempts=20),
}


def spec_for(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown job kind {kind!r}") from None
