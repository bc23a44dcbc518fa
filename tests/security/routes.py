"""The app's routes as data, for the generated security matrices.

Everything here is read from the URL map and the attributes `web.auth.require` and
`web.openapi.doc` leave on each view (`required_roles`, `operator_allowed`, `openapi`), so a new
route joins every matrix without anyone listing it. What cannot be derived (a minimal valid body,
which object an id parameter names) is keyed by endpoint or parameter name, and the matrices
fail loudly when a new route needs an entry that is missing.
"""
from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Flask
from pydantic import BaseModel, ValidationError

TENANT_ROLES = ("l1", "engineer", "admin", "owner")
# Path parameters that are the PSA's integers (`<int:...>`), not ids we hand out.
INT_PARAMS = {"board_id"}

# Routes that need no token, on purpose. Anything else without `required_roles` fails the role matrix.
PUBLIC_RULES = {
    "/api/v1/openapi.json",  # the contract itself
    "/healthz",  # liveness for the orchestrator; says ok/down only
    "/static/<path:filename>",  # Flask's static files
    "/ops",  # the ops console page: holds no data; its script calls the operator API with a pasted token
    "/ops/static/<path:filename>",  # the console's script and style
    "/api/v1/auth/login",  # sign-in itself: answers only to a right email and password (attempts limited)
    "/",  # redirects to /app
    "/app",  # the people's pages: a static shell; its scripts call the API with the signed-in token
    "/app/<path:_route>",  # the same shell for every client-side route (deep links)
}

# Smallest bodies the views accept, keyed by endpoint. Views whose body model has no required field
# get `{}`. Each body is validated against the view's model, so a stale entry fails loudly too.
BODIES: dict[str, dict[str, Any]] = {
    "auth.login": {"email": "matrix@example.test", "password": "matrix-password"},
    "jobs.create": {"kind": "system.echo", "payload": {"probe": 1}},
    "sessions.create": {"intake_content": {"problem": "Printer offline"}},
    "sessions.add_fact": {"text": "The spooler restarts every minute"},
    "fixes.create": {"title": "Restart spooler", "description": "Restart the print spooler", "confidence_pct": 60,
                     "ai_drafted_script": "Restart-Service Spooler"},
    "fixes.decision": {"decision": "one_off"},
    "fixes.outcome": {"outcome": "applied_success"},
    "assistant.post_message": {"content": "The spooler stops again after a minute"},
    "writeback.post_resolution": {"markdown": "## Summary\n\nPrinter back online."},
    "writeback.post_escalation": {"markdown": "## Problem\n\nPrinter offline."},
    "tenant.create_connection": {"provider": "connectwise", "site_url": "http://127.0.0.1:9", "company_id": "acme",
                                 "public_key": "pub-matrix", "private_key": "priv-matrix", "client_id": "cid"},
    "tenant.update_connection": {"company_id": "acme2"},
    "tenant.patch_settings": {"preferences": {"matrix": 1}},
    "batches.create": {"action": "regenerate_resolution_note"},
    "l1.intake": {"problem_statement": "Outlook keeps asking for my password"},
    "l1.step": {"node_id": "q1", "answer": "Yes"},
    "l1.notes": {"text": "Customer rebooted already"},
    "l1.escalate_without_walk": {"problem_statement": "Laptop will not boot"},
    "l1_flows.create_flow": {
        "title": "Matrix flow", "category": "email", "keywords": ["matrix"],
        "nodes": [{"id": "m1", "type": "question", "text": "Is it on?",
                   "answers": [{"label": "Yes", "next": "m2"}, {"label": "No", "next": "m3"}]},
                  {"id": "m2", "type": "resolve", "text": "Done."},
                  {"id": "m3", "type": "escalate", "text": "Escalate."}],
    },
    "l1_flows.put_category": {"enabled": True, "keywords": ["matrix"]},
    "people.create_user": {"email": "matrix-user@example.test", "role": "l1"},
    "people.change_own_password": {"current_password": "matrix-password", "new_password": "matrix-password-2"},
    "l1_flows.update_flow": {
        "title": "Matrix flow 2", "category": "email", "keywords": ["matrix"],
        "nodes": [{"id": "m1", "type": "question", "text": "Is it on?",
                   "answers": [{"label": "Yes", "next": "m2"}, {"label": "No", "next": "m2"}]},
                  {"id": "m2", "type": "resolve", "text": "Done."}],
    },
}


@dataclass(frozen=True)
class Route:
    rule: str
    method: str
    endpoint: str
    params: tuple[str, ...]
    roles: tuple[str, ...] | None  # None: the view has no `require` (public)
    operator: bool
    body_model: type[BaseModel] | None
    documented: bool = False  # in /api/v1/openapi.json

    @property
    def label(self) -> str:
        return f"{self.method} {self.rule}"

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", self.rule)

    @property
    def public(self) -> bool:
        return self.roles is None

    def allows(self, who: str) -> bool:
        if self.roles is None:
            return True
        if who == "operator":
            return self.operator
        return who in self.roles

    @property
    def tenant_roles(self) -> tuple[str, ...]:
        return tuple(r for r in TENANT_ROLES if self.roles and r in self.roles)

    def url(self, values: dict[str, Any]) -> str:
        return re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.rule)

    def body(self) -> dict[str, Any] | None:
        """The minimal valid body, or None when the view reads none."""
        if self.body_model is None:
            return None
        body = copy.deepcopy(BODIES.get(self.endpoint, {}))
        try:
            self.body_model.model_validate(body)
        except ValidationError as exc:
            raise AssertionError(
                f"{self.label} ({self.endpoint}) needs a minimal valid body in tests/security/routes.py BODIES: {exc}"
            ) from None
        return body

    def random_values(self) -> dict[str, Any]:
        return {p: (f"zz-missing-{uuid.uuid4().hex[:8]}" if p == "name" else 21 if p in INT_PARAMS else uuid.uuid4())
                for p in self.params}


def discover(app: Flask) -> list[Route]:
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "openapi", None) or {}
        roles = getattr(view, "required_roles", None)
        params = tuple(re.findall(r"<(?:[^:<>]+:)?(\w+)>", rule.rule))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append(Route(rule.rule, method, rule.endpoint, params,
                                tuple(roles) if roles is not None else None,
                                bool(getattr(view, "operator_allowed", False)), meta.get("body"), bool(meta)))
    return sorted(routes, key=lambda r: (r.rule, r.method))


@lru_cache(maxsize=1)
def collected_routes() -> tuple[Route, ...]:
    """The routes at collection time, from a throwaway app (building it opens no connection)."""
    from shared.settings import Settings
    from web import create_app

    app = create_app(Settings(database_url="postgresql://collect@127.0.0.1:1/collect", redis_url="redis://127.0.0.1:1/0",
                              flowpilot_secret_keys=""))
    try:
        return tuple(discover(app))
    finally:
        app.extensions["flowpilot"].dispose()


def call(client: Any, route: Route, values: dict[str, Any], headers: dict[str, str] | None, *,
         body: Any = "default", query: str = "") -> Any:
    payload = route.body() if body == "default" else body
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if payload is not None:
        kwargs["json"] = payload
    url = route.url(values) + (f"?{query}" if query else "")
    return client.open(url, method=route.method, **kwargs)


PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")


def problem_errors(resp: Any) -> list[str]:
    """What is wrong with an error response as RFC 9457 problem+json (empty list: nothing)."""
    errors = []
    if resp.mimetype != "application/problem+json":
        errors.append(f"content type {resp.content_type!r}")
    body = resp.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        return errors + ["body is not a JSON object"]
    missing = [f for f in PROBLEM_FIELDS if f not in body]
    if missing:
        errors.append(f"missing fields {missing}")
    if body.get("status") != resp.status_code:
        errors.append(f"status field {body.get('status')!r} != {resp.status_code}")
    for f in ("type", "title", "detail", "code"):
        if f in body and not (isinstance(body[f], str) and body[f]):
            errors.append(f"{f} is not a non-empty string")
    if "Traceback" in resp.get_data(as_text=True):
        errors.append("stack trace in body")
    return errors
