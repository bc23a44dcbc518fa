"""Alembic environment: migrate as the owner role, then grant the app role what it needs."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from db.base import Base
from db.engine import normalize_url
from db.models import *  # noqa: F403  (fills Base.metadata)
from shared.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _urls() -> tuple[str, str]:
    settings = get_settings()
    migrate = config.attributes.get("migration_url") or settings.migration_url
    app = config.attributes.get("app_url") or settings.database_url
    return normalize_url(migrate), normalize_url(app)


def run_migrations_online() -> None:
    migrate_url, app_url = _urls()
    engine = create_engine(migrate_url, poolclass=pool.NullPool)
    app_role = make_url(app_url).username
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            owner = connection.execute(text("SELECT current_user")).scalar_one()
            if app_role and app_role != owner:
                # The app role reads and writes rows; it never owns tables or alters them.
                connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{app_role}"'))
                connection.execute(
                    text(
                        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{app_role}\""
                    )
                )
                connection.execute(text(f'REVOKE ALL ON alembic_version FROM "{app_role}"'))
                connection.execute(text(f'GRANT SELECT ON alembic_version TO "{app_role}"'))
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `flask --app web db upgrade`")
run_migrations_online()
