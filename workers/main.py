"""Entry point for the dramatiq CLI: `dramatiq workers.main --queues interactive`."""
from __future__ import annotations

import logging

import dramatiq

from shared.logging_setup import configure_logging
from shared.settings import get_settings
from workers.broker import build_broker, register_actors

settings = get_settings()
configure_logging(settings.flowpilot_log_level)
broker = build_broker(settings)
dramatiq.set_broker(broker)
register_actors(broker)
logging.getLogger(__name__).debug("actors: %s", sorted(broker.actors))
