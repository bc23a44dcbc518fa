"""Secrets never show up where they should not: logs, Redis, API responses, error bodies.

A representative flow runs with DEBUG logging captured from the root logger (every thread, the
in-process worker included): PSA connection with distinctive keys, a writeback against the
simulator that succeeds after a 500 and a 429, one that fails on wrong credentials, and requests
that end in 401/403/404/409/422 (some carrying the secrets in the very field that is rejected).
Then everything is scanned for the API tokens, the PSA private and public keys, the Basic
credential ConnectWise receives, and any Authorization header value.
"""
from __future__ import annotations

import base64
import io
import logging
import re
import uuid
from typing import Any

import pytest

from shared.logging_setup import RedactingFilter
from tests.fakes.cw_simulator import DEMO_TICKET
from tests.helpers import wait_job

AUTH_HEADER_RE = re.compile(r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(?:basic|bearer)\s+(?!\[REDACTED\])[A-Za-z0-9+/=._\-]{6,}")


class Recorder:
    """A test client that keeps every response it sees (status, headers, body)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.seen: list[str] = []

    def open(self, *args: Any, **kwargs: Any) -> Any:
        resp = self.client.open(*args, **kwargs)
        self.seen.append(f"{resp.status}\n{resp.headers}\n{resp.get_data(as_text=True)}")
        return resp

    def get(self, url: str, **kw: Any) -> Any:
        return self.open(url, method="GET", **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.open(url, method="POST", **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.open(url, method="PATCH", **kw)


def redis_dump(client: Any, namespace: str) -> list[str]:
    """Every key and value under the namespace, whatever its type."""
    out = []
    for key in client.scan_iter(f"{namespace}*", count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        out.append(f"{key!r} {kind} {value!r}")
    return out


def hits(haystacks: dict[str, list[str]], secrets: dict[str, str]) -> list[str]:
    found = []
    for where, texts in haystacks.items():
        for text in texts:
            found += [f"{name} in {where}: …{text[max(0, text.find(s) - 80):text.find(s) + 20]!r}…"
                      for name, s in secrets.items() if s in text]
            found += [f"Authorization value in {where}: {m.group(0)[:40]!r}" for m in AUTH_HEADER_RE.finditer(text)]
    return found


def test_no_secret_in_logs_redis_or_responses(app, client, settings, tenant, operator, cw_sim, psa_worker, caplog):
    import redis

    tag = uuid.uuid4().hex
    private_key, public_key, company = f"PRIVKEY{tag}", f"PUBKEY{tag[:12]}", f"scanco{tag[:6]}"
    cw_sim.add_company(company, public_key, private_key)
    basic = base64.b64encode(f"{company}+{public_key}:{private_key}".encode()).decode()

    # The production handler path too: the app's redacting filter and format, on the root logger.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)  # root at DEBUG: urllib3, sqlalchemy, dramatiq, ours
    c = Recorder(client)
    try:
        conn = c.post("/api/v1/psa-connections", json={
            "provider": "connectwise", "site_url": cw_sim.site_url, "company_id": company,
            "public_key": public_key, "private_key": private_key, "client_id": "scan-client"}, headers=tenant.h())
        assert conn.status_code == 201, conn.get_json()
        conn_id = conn.get_json()["id"]
        c.get("/api/v1/psa-connections", headers=tenant.h("owner"))
        assert c.patch(f"/api/v1/psa-connections/{conn_id}", json={"private_key": private_key, "public_key": public_key},
                       headers=tenant.h()).status_code == 200
        assert c.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": 42}},
                       headers=tenant.h()).status_code == 200

        # Secrets inside rejected input must not be echoed back.
        rejected = [
            c.post("/api/v1/psa-connections", json={"provider": "connectwise", "site_url": cw_sim.site_url,
                                                    "company_id": company, "public_key": public_key,
                                                    "private_key": private_key * 20}, headers=tenant.h()),
            c.post("/api/v1/psa-connections", json={"provider": "connectwise",
                                                    "site_url": f"https://{public_key}:{private_key}@psa.example.com",
                                                    "company_id": company, "public_key": public_key,
                                                    "private_key": private_key}, headers=tenant.h()),
            c.patch(f"/api/v1/psa-connections/{conn_id}", json={"private_key": private_key, "bogus": private_key},
                    headers=tenant.h()),
            c.post("/api/v1/ai-sessions", data=f'{{"intake_content": "{private_key}"', headers=tenant.h(
                "engineer", **{"Content-Type": "application/json"})),
            c.get("/api/v1/ai-sessions", headers={"Authorization": f"Bearer {tenant.tokens['admin']}x"}),
            c.get("/api/v1/ai-sessions", headers={"Authorization": f"Basic {basic}"}),
            c.get("/api/v1/ops/jobs", headers=tenant.h("owner")),
            c.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=tenant.h("l1")),
        ]
        assert [r.status_code for r in rejected] == [422, 422, 422, 400, 401, 401, 403, 404]

        def session() -> str:
            r = c.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Outlook password prompts"},
                                                    "psa_connection_id": conn_id, "psa_ticket_id": str(DEMO_TICKET)},
                       headers=tenant.h("engineer"))
            assert r.status_code == 201
            return str(r.get_json()["id"])

        # Success after a 500 and a 429 (retries, warnings logged with request ids).
        cw_sim.inject("POST", "notes", "status500")
        cw_sim.inject("GET", "ticket", "status429", retry_after=0)
        sid = session()
        r = c.post(f"/api/v1/ai-sessions/{sid}/resolution-note/post", json={"markdown": "## Fixed\n\nCleared creds."},
                   headers=tenant.h("engineer"))
        ok = wait_job(c, tenant.h("engineer"), r.get_json()["job"]["id"], timeout=30)  # type: ignore[arg-type]
        assert ok["status"] == "succeeded", ok
        conflict = c.post(f"/api/v1/ai-sessions/{sid}/resolution-note/post", json={"markdown": "again"},
                          headers=tenant.h("engineer"))
        assert conflict.status_code == 409

        # Wrong credentials: CW answers 401, the job fails; its error body is scanned too.
        cw_sim.add_company(company, public_key, "rotated-on-the-cw-side")
        sid2 = session()
        r = c.post(f"/api/v1/ai-sessions/{sid2}/escalation-package/post", json={"markdown": "## Problem\n\nx"},
                   headers=tenant.h("engineer"))
        failed = wait_job(c, tenant.h("engineer"), r.get_json()["job"]["id"])  # type: ignore[arg-type]
        assert failed["status"] == "failed" and failed["error"]["code"] == "psa_auth_failed", failed
        c.get("/api/v1/ops/jobs?status=failed", headers=operator)
        for job in (ok, failed):  # a job's whole story and its attempts: payload, steps, every attempt's error
            c.get(f"/api/v1/ops/jobs/{job['id']}", headers=operator)
            c.get(f"/api/v1/jobs/{job['id']}/attempts", headers=tenant.h("engineer"))
        c.get("/api/v1/ops/stats", headers=operator)
        c.get(f"/api/v1/ai-sessions/{sid2}", headers=tenant.h("engineer"))
        c.get("/metrics", headers=operator)
    finally:
        root.removeHandler(handler)

    assert cw_sim.count("POST", "notes") >= 2  # the flow really talked to ConnectWise with these keys
    # ... with exactly the credential scanned for below.
    assert any(req.authorization == f"Basic {basic}" for req in cw_sim.request_log)

    r = redis.Redis.from_url(settings.redis_url)
    try:
        dumped = redis_dump(r, settings.flowpilot_redis_namespace)
    finally:
        r.close()
    records = []
    for rec in caplog.records:
        text = rec.getMessage()
        if rec.exc_info:
            text += "\n" + logging.Formatter().formatException(rec.exc_info)
        records.append(f"{rec.name}: {text} {rec.__dict__.get('args')!r}")
    assert len(records) > 20 and any("urllib3" in x for x in records)  # DEBUG really was captured
    assert any("ConnectWise POST" in x and "psa_unavailable" in x for x in records)  # incl. the error paths
    assert any("psa_auth_failed" in x for x in records)
    assert dumped, "nothing in Redis: the scan would be vacuous"

    secrets = {f"API token ({role})": token for role, token in tenant.tokens.items()}
    secrets["operator token"] = operator["Authorization"].split(" ", 1)[1]
    secrets.update({"PSA private key": private_key, "PSA public key": public_key, "Basic credential": basic})
    found = hits({"log records": records, "root log output": [stream.getvalue()], "Redis": dumped,
                  "API responses": c.seen}, secrets)
    assert not found, "\n".join(found[:40])


@pytest.mark.parametrize("template", [
    "Authorization: Basic {b}",
    "authorization:Bearer {t}",
    "headers={{'Authorization': 'Basic {b}', 'clientId': 'x'}}",
    'headers={{"Authorization": "Bearer {t}"}}',
    "Authorization=Basic {b}",
    "token {t} in a message",
])
def test_the_log_filter_masks_authorization_in_every_shape(template):
    """The redacting filter on the root handler: plain header lines and dict/JSON reprs of headers."""
    from shared.security.tokens import generate_token

    token, basic = generate_token(), base64.b64encode(b"co+pub:priv-secret").decode()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, template.format(b=basic, t=token), None, None)
    assert RedactingFilter().filter(record)
    out = record.getMessage()
    assert token not in out and basic not in out and "[REDACTED]" in out, out
    assert not AUTH_HEADER_RE.search(out), out
