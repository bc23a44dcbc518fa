"""Schemathesis against /api/v1/openapi.json, in-process on the WSGI app (positive and negative data).

One test per documented operation (the list comes from the URL map at collection; each test also
checks that the operation is in the served document). Callers: a tenant admin token, and for the
operations an operator may use, an operator token. Per operation and mode (positive, negative):
MAX_EXAMPLES generated cases, derandomized (fixed seed), no deadline. Asserted for every response:
no 5xx, and every 4xx is RFC 9457 problem+json with type/title/status/detail/code.

`schemathesis.pytest.from_fixture(...).parametrize()` does not run under pytest 9.2 (it writes
`Node._nodeid`, which pytest 9.2 no longer has), so each operation's strategy (`as_strategy`, the
documented API for plain Hypothesis tests) is driven by Hypothesis here. DNS is faked: no lookup for
a generated site_url leaves the machine.
"""
from __future__ import annotations

import os
import socket
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.security.routes import collected_routes

# Examples per operation and caller, drawn from positive and negative data alike (one_of): operations
# that take a body or a query string get MAX_EXAMPLES, those whose only input is a path id get
# PATH_ONLY_EXAMPLES (little to vary). FLOWPILOT_SCHEMATHESIS_EXAMPLES raises it for a longer run.
MAX_EXAMPLES = int(os.environ.get("FLOWPILOT_SCHEMATHESIS_EXAMPLES", "25"))
PATH_ONLY_EXAMPLES = max(1, MAX_EXAMPLES // 3)
SEED = 8
PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")
OPERATIONS = [r for r in collected_routes() if r.documented and r.rule.startswith("/api/v1/")]


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress

    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).split("%")[0])
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture(scope="module")
def schema(app: Any) -> Any:
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                       "with-security-parameters": False},
    })
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def check(response: Any, case: Any) -> None:
    status = response.status_code
    label = f"{case.method} {case.formatted_path} → {status}"
    assert status < 500, f"{label}: server error {response.content[:500]!r}"
    if 400 <= status < 500:
        ctype = (response.headers.get("content-type") or [""])[0]
        assert ctype.split(";")[0].strip() == "application/problem+json", f"{label}: content type {ctype!r}"
        body = response.json()
        assert isinstance(body, dict), f"{label}: {body!r}"
        missing = [f for f in PROBLEM_FIELDS if f not in body]
        assert not missing, f"{label}: problem lacks {missing}: {body}"
        assert body["status"] == status, f"{label}: status field {body['status']!r}"
        assert all(isinstance(body[f], str) and body[f] for f in ("type", "title", "detail", "code")), f"{label}: {body}"


def fuzz(schema: Any, path: str, method: str, token: str) -> int:
    """Run the operation's generated cases; returns how many negative cases were sent."""
    operation = schema[path][method.lower()]
    has_input = bool(operation.body) or any(p.location != "path" for p in operation.iter_parameters())
    auth = {"Authorization": f"Bearer {token}"}
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=auth)
    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=auth)
    sent = {"negative": 0}

    @settings(max_examples=MAX_EXAMPLES if has_input else PATH_ONLY_EXAMPLES, deadline=None, derandomize=True,
              database=None, phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=st.one_of(positive, negative) if has_input or operation.path_parameters else positive)
    def run(case: Any) -> None:
        sent["negative"] += case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
        check(case.call(), case)

    run()
    return sent["negative"]


def test_every_documented_operation_is_fuzzed(schema):
    served = {(path, m.upper()) for path, item in schema.raw_schema["paths"].items() for m in item}
    assert served == {(r.openapi_path, r.method) for r in OPERATIONS}


@pytest.mark.parametrize("route", OPERATIONS, ids=[r.label for r in OPERATIONS])
def test_schemathesis(route, schema, tenant, operator):
    callers = []
    if route.tenant_roles or not route.operator:
        callers.append(tenant.tokens["admin"])
    if route.operator:
        callers.append(operator["Authorization"].split(" ", 1)[1])
    negatives = sum(fuzz(schema, route.openapi_path, route.method, token) for token in callers)
    assert negatives > 0 or not (route.params or route.body_model), f"{route.label}: no negative case was sent"
