"""The request is the unit of work: one transaction in the caller's scope, committed at the end.

Jobs created during the request are dispatched only after that commit succeeds.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, g
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from db.engine import Scope, open_session
from shared.jobs.notify import publish_change
from shared.jobs.service import JobRef
from web.problems import problem
from web.state import state

log = logging.getLogger(__name__)


@dataclass
class RequestUnit:
    """The request's unit of work. Its session opens on first use: a request served by one-shot statements
    (db/oneshot.py) never checks out a connection for it."""

    scope: Scope
    session: Session | None = None
    ended: bool = False
    dispatch: list[JobRef] = field(default_factory=list)
    notify: list[uuid.UUID] = field(default_factory=list)
    after_commit: list[Callable[[], object]] = field(default_factory=list)


def begin_request(scope: Scope) -> None:
    """Start the request's unit of work in `scope` (authentication does this first)."""
    g.unit = RequestUnit(scope)


def _unit() -> RequestUnit:
    unit: RequestUnit | None = g.get("unit")
    if unit is None:
        raise RuntimeError("no request unit of work (db() outside an authenticated request?)")
    return unit


def db() -> Session:
    unit = _unit()
    if unit.ended:  # only reachable for an authenticated request whose transaction was ended
        raise RuntimeError("the request transaction is not open (db() after end_transaction()?)")
    if unit.session is None:
        unit.session = open_session(state().engine, unit.scope)
        unit.session.begin()
    return unit.session


def request_scope() -> Scope:
    """The scope the request acts in (set by authentication), for work outside its session (db.oneshot)."""
    return _unit().scope


def end_transaction() -> None:
    """Commit now and release the connection, e.g. before a long-poll waits; nothing more is written."""
    unit = _unit()
    unit.ended = True
    session, unit.session = unit.session, None
    if session is not None:
        try:
            session.commit()
        finally:
            session.close()


def dispatch_after_commit(*refs: JobRef) -> None:
    """Enqueue these jobs once the request's transaction has committed (never before)."""
    _unit().dispatch.extend(refs)


def after_commit(fn: Callable[[], object]) -> None:
    """Run `fn` once the request's transaction has committed (skipped on rollback)."""
    _unit().after_commit.append(fn)


def notify_after_commit(*job_ids: uuid.UUID) -> None:
    """Wake long-polls of these jobs once the change is visible."""
    _unit().notify.extend(job_ids)


def init_app(app: Flask) -> None:
    @app.after_request
    def _finish(response: Response) -> Response:
        unit: RequestUnit | None = g.pop("unit", None)
        if unit is None:
            return response
        refs, notify, calls = unit.dispatch, unit.notify, unit.after_commit
        session = unit.session
        if response.status_code >= 400:
            refs, notify, calls = [], [], []
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            except Exception as exc:
                log.exception("commit failed")
                session.rollback()
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    # The connection broke during COMMIT: it may have been applied (a job then still runs: the
                    # sweeper sends it). Say so instead of "nothing was written".
                    return problem(500, "internal_error", "the connection to the database broke while saving; the "
                                   "change may have been saved: repeat the request with the same Idempotency-Key")
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
        unit: RequestUnit | None = g.pop("unit", None)
        if unit is not None and unit.session is not None:
            unit.session.rollback()
            unit.session.close()
