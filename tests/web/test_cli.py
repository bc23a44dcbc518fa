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


def _invoke_stdin(app, stdin: str, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_passwords_from_stdin_sign_in_and_set_password_ends_sign_ins(app, client):
    account = json.loads(run_cli(app, "accounts", "create", "Pw MSP", "--json"))["account_id"]
    secret = "first password, long enough"
    out = _invoke_stdin(app, secret + "\n", "users", "create", "--account-id", account, "--email", "Dana@pw.test",
                        "--role", "engineer", "--password-stdin", "--json")
    assert secret not in out and json.loads(out)["token"].startswith("fp_")
    login = client.post("/api/v1/auth/login", json={"email": "dana@pw.test", "password": secret})
    assert login.status_code == 200, login.get_json()
    token = login.get_json()["token"]
    # Another tenant cannot take the same sign-in email.
    other = json.loads(run_cli(app, "accounts", "create", "Other", "--json"))["account_id"]
    dup = app.test_cli_runner().invoke(args=["users", "create", "--account-id", other, "--email", "DANA@pw.test",
                                             "--role", "admin", "--password-stdin"], input="another password 123\n")
    assert dup.exit_code != 0 and "already signs in" in dup.output
    # A new password: the old one stops working and so do the sign-ins made with it.
    changed = json.loads(_invoke_stdin(app, "second password, also long\n", "users", "set-password", "--email",
                                       "dana@pw.test", "--json"))
    assert changed["login_tokens_revoked"] == 1
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": "dana@pw.test", "password": secret}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": "dana@pw.test",
                                                   "password": "second password, also long"}).status_code == 200
    missing = app.test_cli_runner().invoke(args=["users", "set-password", "--email", "nobody@pw.test"],
                                           input="whatever password 1\n")
    assert missing.exit_code != 0 and "no user" in missing.output


def test_api_token_with_an_expiry(app, client, tenant):
    out = json.loads(run_cli(app, "users", "token", "--user-id", str(tenant.user_ids["l1"]), "--expires-in-days", "30",
                             "--json"))
    assert out["expires_at"] and out["token_id"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {out['token']}"}).status_code == 200
    listed = client.get("/api/v1/tokens", headers=tenant.h("admin")).get_json()["items"]
    assert next(t for t in listed if t["id"] == out["token_id"])["expires_at"] is not None
