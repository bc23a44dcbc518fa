"""PSA set-up helpers for the admin page (admin, owner): test a connection, list its boards and statuses.

Each answers with a job to watch (202); the lists answer 200 from a short-lived cache when they can.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify

from db.models import Job, PsaConnection
from shared.lookup import fetch
from shared.psa import setup
from web.auth import ADMIN_UP, principal, require
from web.db import db
from web.openapi import doc
from web.state import state
from web.submit import accepted, submit
from web.validation import Strict, parse_query

bp = Blueprint("psa_setup", __name__, url_prefix="/api/v1/psa-connections/<uuid:connection_id>")


class ListQuery(Strict):
    refresh: bool = False


def _connection(connection_id: uuid.UUID) -> PsaConnection:
    return fetch(db(), PsaConnection, connection_id, what="PSA connection", code="psa_connection_not_found")


def _start(conn: PsaConnection, kind: str, board_id: int | None = None) -> Any:
    def make(key: str | None, fingerprint: str | None) -> tuple[Job, bool]:
        return setup.request_job(db(), conn, kind, user_id=principal().user_id, board_id=board_id,
                                 idempotency_key=key, fingerprint=fingerprint)

    return accepted(submit(make))


def _list(connection_id: uuid.UUID, board_id: int | None) -> Any:
    q = parse_query(ListQuery)
    conn = _connection(connection_id)
    st = state()
    hit = None if q.refresh else setup.cached_list(st.redis, setup.lists_key(st.namespace, conn, board_id))
    if hit is not None:
        return jsonify({**hit, "cached": True})
    return _start(conn, setup.BOARDS_KIND if board_id is None else setup.STATUSES_KIND, board_id)


@bp.post("/test")
@require(*ADMIN_UP)
@doc("Test a connection: a psa.test_connection job (company lookup + one authenticated read)", status=202)
def test_connection(connection_id: uuid.UUID) -> Any:
    return _start(_connection(connection_id), setup.TEST_KIND)


@bp.get("/boards")
@require(*ADMIN_UP)
@doc("The PSA's service boards: 200 from the cache, else 202 with a psa.list_boards job", query=ListQuery)
def boards(connection_id: uuid.UUID) -> Any:
    return _list(connection_id, None)


@bp.get("/boards/<int:board_id>/statuses")
@require(*ADMIN_UP)
@doc("A board's statuses: 200 from the cache, else 202 with a psa.list_statuses job", query=ListQuery)
def statuses(connection_id: uuid.UUID, board_id: int) -> Any:
    return _list(connection_id, board_id)
