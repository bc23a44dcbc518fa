"""The people's pages under /app: one static shell; its ES modules call only the public JSON API.

Every path under /app answers the same shell (client-side routes, so a deep link survives a reload and
sign-in); the shell holds no data and needs no token. `/` sends people to `/app`. Same headers as the
ops console: no inline script or style, so the Content-Security-Policy forbids both.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, redirect, render_template

from web.console import SECURITY_HEADERS

bp = Blueprint("pages", __name__)


@bp.get("/")
def root() -> Any:
    return redirect("/app", code=302)


@bp.get("/app")
@bp.get("/app/<path:_route>")
def shell(_route: str = "") -> Any:
    resp = make_response(render_template("app.html"))
    resp.headers.update(SECURITY_HEADERS)
    return resp
