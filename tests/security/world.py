"""One object of every kind a route can name, created in a tenant through the API.

`kinds` maps an object kind to its id; `kind_of(rule, param)` says which kind a path parameter
names. A parameter nobody mapped makes the cross-tenant matrix fail, so it stays complete.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from db.base import TENANT_TABLES
from db.engine import SYSTEM, transaction
from db.engine import tenant as tenant_scope
from tests.helpers import clear_redis_namespace, truncate_tenant_tables
from tests.l1.flowdata import OUTLOOK, OUTLOOK_PROBLEM, VPN, create_flow, put_category

PARAM_KINDS = {
    "session_id": "session",
    "fact_id": "fact",
    "fix_id": "fix",
    "job_id": "job",
    "connection_id": "psa_connection",
    "batch_id": "batch",
    "flow_id": "l1_flow",
    "name": "l1_category",
    "token_id": "api_token",
    "user_id": "user",
    "board_id": "psa_board",  # the PSA's board id: the connection before it decides whose it is
}
# (rule prefix, parameter) → kind, where one parameter name means another object under a prefix.
PREFIX_KINDS = [("/api/v1/l1/sessions/", "session_id", "l1_session")]
# Kinds addressed by a name the tenant chooses (an upsert key), not by an id we hand out.
NAME_KEYED = {"l1_category"}
# Ids that belong to the PSA, not to a tenant (the same for everyone): only the connection they come with
# is tenant-checked. Not part of a world, so never mistaken for a leak.
EXTERNAL = {"psa_board": "21"}


def kind_of(rule: str, param: str) -> str | None:
    for prefix, name, kind in PREFIX_KINDS:
        if rule.startswith(prefix) and param == name:
            return kind
    return PARAM_KINDS.get(param)


def path_values(rule: str, params: tuple[str, ...], world: dict[str, str]) -> dict[str, str]:
    """The world's object for each path parameter of a route (PSA-side ids are the same for everyone)."""
    known = {**EXTERNAL, **world}
    return {p: known[kind_of(rule, p) or ""] for p in params}


def _ok(resp: Any, *statuses: int) -> dict[str, Any]:
    assert resp.status_code in statuses, (resp.status_code, resp.get_json(silent=True))
    body: dict[str, Any] = resp.get_json()
    return body


def build_world(client: Any, tenant: Any, *, site_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    """Create one of everything in `tenant`; returns kind → id (the category by its name)."""
    h = tenant.h
    tag = uuid.uuid4().hex[:6]
    conn = _ok(client.post("/api/v1/psa-connections", json={
        "provider": "connectwise", "site_url": site_url, "company_id": "acme", "public_key": f"pub-{tag}",
        "private_key": f"priv-{tag}", "client_id": "cid"}, headers=h("admin")), 201)
    _ok(client.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": 42}},
                     headers=h("admin")), 200)
    session = _ok(client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": f"printer {tag}"},
                                                           "psa_connection_id": conn["id"], "psa_ticket_id": "48291"},
                              headers=h("engineer")), 201)
    sid = session["id"]
    fact = _ok(client.post(f"/api/v1/ai-sessions/{sid}/facts", json={"text": f"fact {tag}"}, headers=h("engineer")), 201)
    fix = _ok(client.post(f"/api/v1/ai-sessions/{sid}/suggested-fixes", json={
        "title": "Restart spooler", "description": "Restart it", "confidence_pct": 70,
        "ai_drafted_script": "Restart-Service Spooler"}, headers=h("engineer")), 201)
    _ok(client.post(f"/api/v1/ai-sessions/{sid}/messages", json={"content": f"message {tag}"},
                    headers=h("engineer")), 202)  # a message and its (queued) reply job
    job = _ok(client.post("/api/v1/jobs", json={"kind": "system.echo", "payload": {"tag": tag}}, headers=h("admin")), 202)
    batch = _ok(client.post("/api/v1/batches", json={"action": "regenerate_resolution_note"}, headers=h("admin")), 202)
    create_flow(client, tenant, OUTLOOK)  # published: intake below matches it
    draft = create_flow(client, tenant, VPN, publish=False)
    category = f"cat-{tag}"
    put_category(client, tenant, category, keywords=[f"kw{tag}"])
    walk = _ok(client.post("/api/v1/l1/intake", json={"problem_statement": OUTLOOK_PROBLEM}, headers=h("l1")), 201)
    assert walk["outcome"] == "matched", walk
    return {
        "api_token": spare_token(client, tenant),
        "user": str(tenant.user_ids["l1"]),
        "session": sid, "fact": fact["id"], "fix": fix["id"], "job": job["job"]["id"],
        "psa_connection": conn["id"], "batch": batch["batch"]["id"], "l1_flow": draft["id"],
        "l1_category": category, "l1_session": walk["session_id"],
    }


def spare_token(client: Any, tenant: Any) -> str:
    """A token of the tenant's admin that no test request uses (revoking it in the matrix harms nothing)."""
    from db.models import User
    from shared.people import issue_token

    engine = client.application.extensions["flowpilot"].engine
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        user = db.get(User, tenant.user_ids["admin"])
        _, row = issue_token(db, user)
        return str(row.id)


def populate_rest(engine: Any, account_id: uuid.UUID, session_id: str) -> None:
    """Rows for the tenant tables no cheap API call fills without a worker (templates, previews, attempts,
    provider batches)."""
    from sqlalchemy import select

    from db.models import Batch, DraftTemplate, Job, JobAttempt, LlmProviderBatch, Preview, ScriptTemplate

    with transaction(engine, tenant_scope(account_id)) as db:
        job_id = db.execute(text("SELECT id FROM jobs ORDER BY created_at LIMIT 1")).scalar_one()
        db.add(JobAttempt(job_id=job_id, account_id=account_id, kind=db.get(Job, job_id).kind, number=1,
                          finished_at=text("now()"), outcome="retrying",
                          error={"code": "psa_unavailable", "message": "matrix attempt"}))
        db.add(ScriptTemplate(id=uuid.uuid4(), account_id=account_id, name="Restart spooler", body="Restart-Service Spooler"))
        db.add(DraftTemplate(id=uuid.uuid4(), account_id=account_id, script_body="Restart-Service Spooler"))
        db.add(Preview(id=uuid.uuid4(), account_id=account_id, session_id=uuid.UUID(session_id), kind="resolution_note",
                       state_version=999, markdown="draft", generator="offline"))
        batch_id = db.execute(select(Batch.id).where(Batch.account_id == account_id).limit(1)).scalar_one()
        db.add(LlmProviderBatch(id=uuid.uuid4(), account_id=account_id, batch_id=batch_id, seq=1,
                                provider_batch_id=f"msgbatch_{uuid.uuid4().hex[:24]}", status="submitted",
                                requests={str(uuid.uuid4()): 1}, request_count=1))


def key_column(table: str) -> str:
    return "id" if table == "accounts" else "account_id"


def snapshot(engine: Any, account_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the tenant owns, in every tenant table (read in the system scope)."""
    out = {}
    with transaction(engine, SYSTEM) as db:
        for table in TENANT_TABLES:
            rows = db.execute(text(f"SELECT * FROM {table} WHERE {key_column(table)} = :a"), {"a": account_id}).all()
            out[table] = sorted(tuple(repr(bytes(v)) if isinstance(v, memoryview) else repr(v) for v in r) for r in rows)
    return out


def truncate_all(database: dict[str, str], redis_url: str, namespace: str) -> None:
    """What tests/conftest.py does after every test, for modules that clean up once at their end."""
    truncate_tenant_tables(database["owner"])
    clear_redis_namespace(redis_url, namespace)


def counts(engine: Any) -> dict[str, int]:
    with transaction(engine, SYSTEM) as db:
        return {t: db.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TENANT_TABLES}
