"""Job handlers by kind. The actor name of each is its kind (`domain.verb`)."""
from __future__ import annotations

from workers.handlers import system, templates
from workers.runner import Handler

HANDLERS: dict[str, Handler] = {
    "system.echo": system.echo,
    "template.extract": templates.extract,
}
