"""The request is the unit of work: one transaction in the caller's scope, committed at the end.

Jobs created during the request are dispatched only after that commit succeeds.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from flask import Flask, Response, g
from sqlalchemy.orm import Session

from db.engine import Scope, open_session
from shared.jobs.notify import publish_change
from shared.jobs.service import JobRef
from web.problems import problem
from web.state import state

log = logging.getLogger(__name__)


def begin_request(scope: Scope) -> Session:
    """Open the request's one transaction (authentication does this first, in the system scope)."""
    session = open_session(state().engine, scope)
    session.begin()
    g.db = session
    g.dispatch = []
    g.notify = []
    g.after_commit = []
    return session


def db() -> Session:
    session: Session | None = g.get("db")
    if session is None:  # only reachable for an authenticated request whose transaction was ended
        raise RuntimeError("the request transaction is not open (db() after end_transaction()?)")
    return session


def request_scope() -> Scope:
    """The scope the request acts in (set by authentication), for work outside its session (db.oneshot)."""
    scope: Scope = db().info["scope"]
    return scope


def end_transaction() -> None:
    """Commit now and release the connection, e.g. before a long-poll waits; nothing more is written."""
    session: Session | None = g.pop("db", None)
    if session is not None:
        try:
            session.commit()
        finally:
            session.close()


def dispatch_after_commit(*refs: JobRef) -> None:
    """Enqueue these jobs once the request's transaction has committed (never before)."""
    g.dispatch.extend(refs)


def after_commit(fn: Callable[[], object]) -> None:
    """Run `fn` once the request's transaction has committed (skipped on rollback)."""
    g.after_commit.append(fn)


def notify_after_commit(*job_ids: uuid.UUID) -> None:
    """Wake long-polls of these jobs once the change is visible."""
    g.notify.extend(job_ids)


def init_app(app: Flask) -> None:
    @app.after_request
    def _finish(response: Response) -> Response:
        session: Session | None = g.pop("db", None)
        if session is None:
            return response
        refs: list[JobRef] = g.pop("dispatch", [])
        notify: list[uuid.UUID] = g.pop("notify", [])
        calls: list[Callable[[], object]] = g.pop("after_commit", [])
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
                refs, notify, calls = [], [], []
        except Exception:
            log.exception("commit failed")
            session.rollback()
            return problem(500, "internal_error", "could not save the change; nothing was written")
        finally:
            session.close()
        if refs:
            state().dispatcher.deliver(state().engine, refs)
        for job_id in notify:
            publish_change(state().redis, state().namespace, job_id)
        for fn in calls:
            fn()
        return response

    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()
