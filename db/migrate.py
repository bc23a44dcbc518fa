"""Run Alembic programmatically (the `db upgrade` command and the tests share this)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.settings import Settings

HERE = Path(__file__).resolve().parent


def alembic_config(settings: Settings) -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    config.attributes["migration_url"] = settings.migration_url
    config.attributes["app_url"] = settings.database_url
    config.attributes["system_url"] = settings.flowpilot_system_database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)
