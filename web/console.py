"""The ops console at `/ops`: one server-rendered page; its script polls the operator API.

The page itself holds no data and needs no authentication: the operator pastes a token, the
script keeps it in sessionStorage and sends it as `Authorization: Bearer` on every API call.
No inline script or style, so the Content-Security-Policy can forbid both.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, render_template

bp = Blueprint("console", __name__, static_folder="static", static_url_path="/ops/static")

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

JOB_STATUSES = ("failed", "retrying", "running", "queued", "succeeded", "cancelled")


@bp.get("/ops")
def console() -> Any:
    resp = make_response(render_template("ops.html", statuses=JOB_STATUSES))
    resp.headers.update(SECURITY_HEADERS)
    return resp
