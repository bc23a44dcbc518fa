"""psa.test_connection / psa.list_boards / psa.list_statuses: what the admin page asks of a PSA connection."""
from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from db.models import PsaConnection
from shared.errors import JobError
from shared.isotime import iso
from shared.lookup import fetch
from shared.psa import setup
from workers.context import JobContext


def _connection(ctx: JobContext) -> PsaConnection:
    with ctx.tx() as db:
        return fetch(db, PsaConnection, uuid.UUID(ctx.payload["connection_id"]), what="PSA connection",
                     code="psa_connection_not_found")


def test_connection(ctx: JobContext) -> dict[str, Any]:
    """Company lookup (site and company id) then one authenticated read (the keys): ok, or the error in words.

    A failed test is a successful job whose result says why: the admin reads it and fixes the connection.
    """
    conn = _connection(ctx)
    try:
        provider = ctx.psa(conn)
        with ctx.slot("psa"):
            info = provider.company_info()
            version = provider.check_access()
    except JobError as err:
        if err.code.endswith("_capacity_exhausted"):
            raise  # our own limit, not the PSA's answer: try again later
        return {"ok": False, "connection_id": str(conn.id), "error": {"code": err.code, "message": err.message}}
    return {"ok": True, "connection_id": str(conn.id), "company_name": info.name, "version": version or info.version}


def list_boards(ctx: JobContext) -> dict[str, Any]:
    return _list(ctx, None)


def list_statuses(ctx: JobContext) -> dict[str, Any]:
    return _list(ctx, int(ctx.payload["board_id"]))


def _list(ctx: JobContext, board_id: int | None) -> dict[str, Any]:
    conn = _connection(ctx)
    provider = ctx.psa(conn)
    with ctx.slot("psa"):
        items = provider.list_boards() if board_id is None else provider.list_statuses(board_id)
    body: dict[str, Any] = {"items": [asdict(i) for i in items], "fetched_at": iso(datetime.now(UTC))}
    if board_id is not None:
        body["board_id"] = board_id
    res = ctx.resources
    setup.store_list(res.redis, setup.lists_key(res.namespace, conn, board_id), body)
    return body
