"""Cross-tenant matrix, generated from the URL map: another tenant's ids answer 404, like missing ids.

For every /api/v1 route with a path parameter, tenant B calls it (as every tenant role the route
allows) with tenant A's real ids, and with a mix of its own ids and one of A's. Each answer must be
the very same 404 problem a random id gets, A's rows must be untouched, and A itself must reach the
same objects through the same requests (so the matrix provably aims at real objects).
"""
from __future__ import annotations

from typing import Any

from tests.security.routes import Route, call, discover, problem_errors
from tests.security.world import EXTERNAL, NAME_KEYED, build_world, kind_of, path_values, snapshot


def _id_routes(app: Any) -> list[Route]:
    return [r for r in discover(app) if r.rule.startswith("/api/v1/") and r.params]


def test_every_id_route_is_known_to_the_matrix(app):
    unknown = [f"{r.label}: <{p}>" for r in _id_routes(app) for p in r.params if kind_of(r.rule, p) is None]
    assert not unknown, ("routes with path parameters the cross-tenant matrix cannot fill; map them in "
                         f"tests/security/world.py (PARAM_KINDS / PREFIX_KINDS) and create the object: {unknown}")
    assert all(r.roles is not None for r in _id_routes(app)), "an id route without require()"


def _values(route: Route, owner: dict[str, str]) -> dict[str, Any]:
    return path_values(route.rule, route.params, owner)


def _variants(route: Route, a: dict[str, str], b: dict[str, str]):
    """(label, values, values for the missing-id baseline): all of A's ids; then one of A's among B's own."""
    random = route.random_values()
    yield "all-foreign", _values(route, a), random
    if len(route.params) > 1:
        own = _values(route, b)
        for p in route.params:
            if kind_of(route.rule, p) not in EXTERNAL:
                yield f"foreign-{p}", {**own, p: _values(route, a)[p]}, {**own, p: random[p]}


def _shape(resp: Any) -> tuple[int, Any]:
    return resp.status_code, resp.get_json(silent=True)


def test_foreign_ids_answer_404_exactly_like_missing_ids(app, client, tenant, other_tenant, engine):
    a = build_world(client, tenant)
    b = build_world(client, other_tenant)
    routes = [r for r in _id_routes(app) if r.tenant_roles]
    assert routes, "no id route a tenant may call: the matrix below would check nothing"
    # Id routes no tenant role may call are operator-only (platform-wide by design: /ops/...); the role
    # matrix shows tenants get 403 there. Everything else is in this matrix.
    assert all(r.operator and r.rule.startswith("/api/v1/ops/") for r in _id_routes(app) if not r.tenant_roles)
    before = snapshot(engine, tenant.account_id)
    failures: list[str] = []
    calls = 0
    for route in routes:
        name_keyed = any(kind_of(route.rule, p) in NAME_KEYED for p in route.params)
        for variant, values, missing in _variants(route, a, b):
            baseline = None if name_keyed else call(client, route, missing, other_tenant.h(route.tenant_roles[0]))
            for i, role in enumerate(route.tenant_roles):
                resp = call(client, route, values, other_tenant.h(role))
                calls += 1
                where = f"{route.label} [{variant}] as B.{role}"
                if name_keyed:
                    # An upsert key: B's first call creates B's own row (201), never finds A's (200 = "exists").
                    want = 201 if i == 0 else 200
                    if resp.status_code != want:
                        failures.append(f"{where}: {resp.status_code} {resp.get_json(silent=True)} (want {want}, B's own row)")
                    continue
                if resp.status_code != 404:
                    failures.append(f"{where}: {resp.status_code} {resp.get_json(silent=True)} (want 404)")
                elif problem_errors(resp):
                    failures.append(f"{where}: not problem+json: {problem_errors(resp)}")
                elif _shape(resp) != _shape(baseline):
                    failures.append(f"{where}: {_shape(resp)} differs from a missing id's {_shape(baseline)}")
    assert not failures, "\n".join(failures)
    assert calls >= 3 * len(routes)
    assert snapshot(engine, tenant.account_id) == before, "tenant A's rows changed through tenant B's requests"

    # Control: the same requests from A reach the objects (not the missing-id answer), so the ids were real.
    unreached = []
    for route in routes:
        role = route.tenant_roles[-1]
        own = call(client, route, _values(route, a), tenant.h(role))
        missing = call(client, route, route.random_values(), tenant.h(role))
        own_code = (own.get_json(silent=True) or {}).get("code")
        missing_code = (missing.get_json(silent=True) or {}).get("code")
        if (own.status_code, own_code) == (missing.status_code, missing_code) or own.status_code >= 500:
            unreached.append(f"{route.label} as A.{role}: {own.status_code} {own.get_json(silent=True)}")
    assert not unreached, "the matrix does not aim at real objects for:\n" + "\n".join(unreached)


def test_collections_show_no_foreign_rows(app, client, tenant, other_tenant):
    """Every list/collection GET, as every role B has for it, mentions none of A's ids or names."""
    a = build_world(client, tenant)
    b = build_world(client, other_tenant)
    leaks, seen_own = [], 0
    for route in discover(app):
        if not route.rule.startswith("/api/v1/") or route.params or route.method != "GET" or not route.tenant_roles:
            continue
        for role in route.tenant_roles:
            resp = client.get(route.rule, headers=other_tenant.h(role))
            assert resp.status_code == 200, (route.label, role, resp.get_json())
            text = resp.get_data(as_text=True)
            leaks += [f"{route.label} as B.{role} shows A's {k}" for k, v in a.items() if v in text]
            seen_own += sum(v in text for v in b.values())
    assert not leaks, "\n".join(leaks)
    assert seen_own > 0  # the lists do show B's own rows: the check above is not vacuous
