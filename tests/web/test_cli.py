"""Admin CLI: the JSON shapes API.md promises, and tokens that work (and are stored hashed)."""
from __future__ import annotations

import json

from sqlalchemy import select

from db.engine import SYSTEM, transaction
from db.models import ApiToken
from tests.helpers import run_cli


def test_accounts_users_operators(app, client, engine):
    account = json.loads(run_cli(app, "accounts", "create", "Cli MSP", "--json"))
    user = json.loads(
        run_cli(app, "users", "create", "--account-id", account["account_id"], "--email", "a@b.c", "--role", "engineer", "--json")
    )
    assert user["token"].startswith("fp_")
    resp = client.get("/api/v1/ai-sessions", headers={"Authorization": f"Bearer {user['token']}"})
    assert resp.status_code == 200
    op = json.loads(run_cli(app, "operators", "create", "--email", "ops@b.c", "--json"))
    resp = client.post("/api/v1/jobs", json={"kind": "system.echo"}, headers={"Authorization": f"Bearer {op['token']}"})
    assert resp.status_code == 202
    with transaction(engine, SYSTEM) as db:
        hashes = db.execute(select(ApiToken.token_hash)).scalars().all()
    assert user["token"] not in hashes and len(hashes) == 2
    revoked = json.loads(run_cli(app, "users", "revoke-token", user["token"][:10], "--json"))
    assert revoked == {"revoked": 1}
    assert client.get("/api/v1/ai-sessions", headers={"Authorization": f"Bearer {user['token']}"}).status_code == 401


def test_users_create_rejects_unknown_account_and_role(app):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["users", "create", "--account-id", "00000000-0000-0000-0000-000000000000", "--email", "x@y.z", "--role", "admin"])
    assert bad.exit_code != 0 and "no account" in bad.output
    bad = runner.invoke(args=["users", "create", "--account-id", "00000000-0000-0000-0000-000000000000", "--email", "x@y.z", "--role", "god"])
    assert bad.exit_code != 0


def test_jobs_sweep_and_db_upgrade(app):
    assert json.loads(run_cli(app, "jobs", "sweep", "--json")) == {"rescued": 0, "failed": 0, "redispatched": 0}
    assert "head" in run_cli(app, "db", "upgrade")


def test_psa_rotate_keys_reencrypts_under_the_new_key(settings, tenant, engine):
    """Rotation: new key first, `psa rotate-keys`, then the old key can go."""
    from cryptography.fernet import Fernet

    from db.models import PsaConnection
    from shared.security.crypto import CredentialCipher
    from web import create_app

    old = settings.flowpilot_secret_keys
    new = Fernet.generate_key().decode()
    body = {"provider": "connectwise", "site_url": "http://127.0.0.1:8765", "company_id": "acme",
            "public_key": "pub", "private_key": "priv-rot"}
    first = create_app(settings)
    second = create_app(settings.model_copy(update={"flowpilot_secret_keys": f"{new},{old}"}))
    try:
        assert first.test_client().post("/api/v1/psa-connections", json=body, headers=tenant.h()).status_code == 201
        out = json.loads(run_cli(second, "psa", "rotate-keys", "--json"))
        assert out == {"rotated": 1, "unreadable": []}
        with transaction(engine, SYSTEM) as db:
            stored = db.execute(select(PsaConnection.credentials)).scalar_one()
        assert CredentialCipher([new]).decrypt(tenant.account_id, stored)["private_key"] == "priv-rot"
    finally:
        first.extensions["flowpilot"].dispose()
        second.extensions["flowpilot"].dispose()
