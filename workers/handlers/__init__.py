"""Job handlers by kind. The actor name of each is its kind (`domain.verb`)."""
from __future__ import annotations

from workers.handlers import (
    assistant,
    batch_llm,
    batches,
    previews,
    psa_setup,
    reverify,
    system,
    templates,
    writeback,
)
from workers.handlers import l1 as l1_handlers
from workers.runner import Handler

HANDLERS: dict[str, Handler] = {
    "system.echo": system.echo,
    "template.extract": templates.extract,
    "preview.resolution_note": previews.resolution_note,
    "preview.escalation_package": previews.escalation_package,
    "writeback.resolution_note": writeback.run,
    "writeback.escalation_package": writeback.run,
    "l1.next_node": l1_handlers.next_node,
    "assistant.reply": assistant.reply,
    "writeback.reverify": reverify.reverify,
    "batch.expand": batches.expand,
    "batch.llm_poll": batch_llm.poll,
    "psa.test_connection": psa_setup.test_connection,
    "psa.list_boards": psa_setup.list_boards,
    "psa.list_statuses": psa_setup.list_statuses,
}
