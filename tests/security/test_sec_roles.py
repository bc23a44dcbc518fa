"""Role matrix, generated from the URL map and the `require` attributes: every route × every caller.

No token, a malformed token and a well-formed unknown token → 401. A tenant role not in
`required_roles`, an operator on a route without `operator=True`, a tenant user on an operator-only
route → 403 `forbidden`, with nothing written. An allowed caller never sees 401/403 (nor a 5xx).
Ids in paths are random, so an allowed caller typically gets 404: auth passed, nothing was found.
"""
from __future__ import annotations

import secrets

import pytest

from tests.security.routes import (
    PUBLIC_RULES,
    TENANT_ROLES,
    Route,
    call,
    collected_routes,
    discover,
    problem_errors,
)
from tests.security.world import counts

ROUTES = [r for r in collected_routes() if not r.public]
CALLERS = (*TENANT_ROLES, "operator")
BAD_TOKENS = {
    "no token": None,
    "not bearer": "Basic Zm9vOmJhcg==",
    "malformed bearer": "Bearer not-a-token",
    "unknown fp_ token": "Bearer fp_" + secrets.token_urlsafe(32),
}


def test_collected_routes_match_the_live_app(app):
    assert {r.label for r in discover(app)} == {r.label for r in collected_routes()}


def test_only_known_routes_are_public(app):
    public = {r.rule for r in discover(app) if r.public}
    assert public <= PUBLIC_RULES, f"routes without require(): {sorted(public - PUBLIC_RULES)}"
    for r in discover(app):
        if not r.public:
            assert r.roles is not None and set(r.roles) <= set(TENANT_ROLES), (r.label, r.roles)
            assert r.roles or r.operator, f"{r.label} allows nobody"


def test_public_routes_answer_without_a_token(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 401  # every tenant's counts: operators only


@pytest.mark.parametrize("route", ROUTES, ids=[r.label for r in ROUTES])
def test_role_matrix(route: Route, client, tenant, operator, engine):
    values = route.random_values()
    headers = {**{role: tenant.h(role) for role in TENANT_ROLES}, "operator": operator}
    problems = []

    before = counts(engine)
    for label, value in BAD_TOKENS.items():
        resp = call(client, route, values, {"Authorization": value} if value else {})
        if resp.status_code != 401 or (resp.get_json(silent=True) or {}).get("code") != "unauthorized":
            problems.append(f"{label}: {resp.status_code} {resp.get_json(silent=True)} (want 401 unauthorized)")
        problems += [f"{label}: {p}" for p in problem_errors(resp)]
    for who in CALLERS:
        if route.allows(who):
            continue
        resp = call(client, route, values, headers[who])
        if resp.status_code != 403 or (resp.get_json(silent=True) or {}).get("code") != "forbidden":
            problems.append(f"{who} (not allowed): {resp.status_code} {resp.get_json(silent=True)} (want 403 forbidden)")
        problems += [f"{who}: {p}" for p in problem_errors(resp)]
    assert counts(engine) == before, "a refused request wrote rows"

    for who in CALLERS:
        if not route.allows(who):
            continue
        resp = call(client, route, values, headers[who])
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            problems.append(f"{who} (allowed): {resp.status_code} {resp.get_json(silent=True)}")
        elif resp.status_code >= 400:
            problems += [f"{who}: {p}" for p in problem_errors(resp)]
    assert not problems, f"{route.label} roles={route.roles} operator={route.operator}:\n" + "\n".join(problems)
