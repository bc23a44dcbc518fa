"""Flask app factory: `flask --app web run` / `gunicorn 'web:create_app()'`."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text
from werkzeug.routing import UUIDConverter

from shared.logging_setup import configure_logging
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    from web import cli, console, db, metrics_view, openapi, pages, problems, ratelimit
    from web import state as state_mod
    from web.blueprints import (
        assistant,
        auth,
        batches,
        fixes,
        jobs,
        ops,
        people,
        previews,
        psa_setup,
        sessions,
        tenant,
        writeback,
    )
    from web.blueprints import l1 as l1_views
    from web.blueprints import l1_flows as l1_flow_views

    settings = settings or get_settings()
    configure_logging(settings.flowpilot_log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.flowpilot_max_body_bytes, JSON_SORT_KEYS=False)
    app.url_map.strict_slashes = False
    app.url_map.converters["uuid"] = UUIDConverter
    app_state = state_mod.build_state(settings)
    state_mod.init_app(app, app_state)
    problems.init_app(app)
    ratelimit.init_app(app, app_state)
    db.init_app(app)
    for blueprint in (auth.bp, pages.bp, jobs.bp, sessions.bp, fixes.bp, assistant.bp, previews.bp, writeback.bp,
                      tenant.bp, batches.bp, ops.bp, metrics_view.bp, l1_views.bp, l1_flow_views.bp, psa_setup.bp,
                      people.bp,
                      openapi.bp, console.bp):
        app.register_blueprint(blueprint)
    cli.init_app(app)

    @app.get("/healthz")
    def healthz() -> Any:
        st = state_mod.state()
        checks = {}
        try:
            with st.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["postgres"] = "ok"
        except Exception:
            checks["postgres"] = "down"
        checks["system_scope"] = _system_scope_check(st.engine)
        try:
            st.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "down"
        healthy = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ok" if healthy else "degraded", "checks": checks}), 200 if healthy else 503

    return app


_MAY_USE_SYSTEM_SCOPE = text("SELECT has_function_privilege('public.system_scope_key()', 'EXECUTE')")


def _system_scope_check(engine: Any) -> str:
    """`ok` when the system pool may use the system scope and the request pool may not (see db/engine.py)."""
    from db.engine import SYSTEM, engine_for

    try:
        with engine_for(engine, SYSTEM).connect() as conn:
            system = conn.execute(_MAY_USE_SYSTEM_SCOPE).scalar()
        with engine.connect() as conn:
            request = conn.execute(_MAY_USE_SYSTEM_SCOPE).scalar()
    except Exception:
        return "down"
    return "ok" if system and not request else "misconfigured"
