"""The migrations build exactly the schema the models describe (no drift either way)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from db.base import Base
from db.engine import normalize_url


def test_models_match_migrations(database):
    engine = create_engine(normalize_url(database["owner"]))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff
