"""Sign-in for people: login tokens that expire, the same 401 for every bad credential, attempt limits,
logout and admin revocation taking effect in the web process at once, and last_used_at bookkeeping."""
from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from db.engine import SYSTEM, transaction
from db.models import ApiToken, User
from shared.security.passwords import hash_password
from tests.helpers import assert_problem

PASSWORD = "correct horse battery staple"


def set_password(engine, user_id: uuid.UUID, password: str = PASSWORD) -> str:
    with transaction(engine, SYSTEM) as db:
        user = db.get(User, user_id)
        user.password_hash = hash_password(password)
        return user.email


def login(client, email: str, password: str = PASSWORD, **environ):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password},
                       environ_base=environ or {})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_an_expiring_token_that_works(client, engine, tenant, settings):
    email = set_password(engine, tenant.user_ids["engineer"])
    before = datetime.now(UTC)
    resp = login(client, email.upper())  # emails are matched case-insensitively
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["user"] == {"id": str(tenant.user_ids["engineer"]), "email": email, "role": "engineer",
                            "account_id": str(tenant.account_id), "is_operator": False}
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(seconds=settings.flowpilot_login_token_ttl_s)
    assert before + ttl - timedelta(seconds=5) <= expires <= datetime.now(UTC) + ttl
    me = client.get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.get_json()["email"] == email and me.get_json()["role"] == "engineer"
    assert me.get_json()["token_expires_at"] is not None
    # The token is a login token of that user, stored only as a hash.
    with transaction(engine, SYSTEM) as db:
        row = db.execute(select(ApiToken).where(ApiToken.user_id == tenant.user_ids["engineer"],
                                                ApiToken.kind == "login")).scalar_one()
        assert row.expires_at is not None and body["token"] not in (row.token_hash, row.prefix)
    assert client.get("/api/v1/ai-sessions", headers=bearer(body["token"])).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_answer(client, engine, tenant, caplog):
    email = set_password(engine, tenant.user_ids["admin"])
    caplog.set_level(logging.DEBUG)
    wrong = login(client, email, "not the password at all")
    unknown = login(client, "nobody-here@example.test", "not the password at all")
    no_password = login(client, tenant_email(engine, tenant.user_ids["l1"]), "not the password at all")
    bodies = [assert_problem(r, 401, "invalid_credentials") for r in (wrong, unknown, no_password)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "not the password at all" not in caplog.text and PASSWORD not in caplog.text


def tenant_email(engine, user_id: uuid.UUID) -> str:
    with transaction(engine, SYSTEM) as db:
        return db.get(User, user_id).email


def test_inactive_user_cannot_sign_in(client, engine, tenant):
    email = set_password(engine, tenant.user_ids["engineer"])
    with transaction(engine, SYSTEM) as db:
        db.get(User, tenant.user_ids["engineer"]).is_active = False
    assert_problem(login(client, email), 401, "invalid_credentials")


def test_repeated_failures_per_email_are_429_even_with_the_right_password(client, engine, tenant, settings):
    email = set_password(engine, tenant.user_ids["engineer"])
    limit = settings.flowpilot_login_max_failures_per_email
    for _ in range(limit):
        assert_problem(login(client, email, "wrong password!"), 401, "invalid_credentials")
    blocked = login(client, email)
    assert_problem(blocked, 429, "too_many_attempts")
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= settings.flowpilot_login_failure_window_s
    # Another person from the same address is not locked out by that.
    other = set_password(engine, tenant.user_ids["admin"])
    assert login(client, other).status_code == 200


def test_a_success_clears_the_email_failures(client, engine, tenant, settings):
    email = set_password(engine, tenant.user_ids["engineer"])
    for _ in range(settings.flowpilot_login_max_failures_per_email - 1):
        login(client, email, "wrong password!")
    assert login(client, email).status_code == 200
    for _ in range(settings.flowpilot_login_max_failures_per_email - 1):
        login(client, email, "wrong password!")
    assert login(client, email).status_code == 200


def test_repeated_failures_per_address_are_429(client, engine, tenant, settings):
    limit = settings.flowpilot_login_max_failures_per_address
    addr = {"REMOTE_ADDR": "127.0.0.9"}
    for i in range(limit):
        assert_problem(login(client, f"guess-{i}@example.test", "wrong password!", **addr), 401, "invalid_credentials")
    email = set_password(engine, tenant.user_ids["engineer"])
    assert_problem(login(client, email, **addr), 429, "too_many_attempts")
    assert login(client, email, REMOTE_ADDR="127.0.0.10").status_code == 200  # another address is fine


def test_login_body_is_validated(client):
    assert_problem(client.post("/api/v1/auth/login", json={"email": "a@b.c"}), 422, "validation_failed")
    assert_problem(client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x", "remember": True}),
                   422, "validation_failed")
    assert_problem(client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x" * 1025}),
                   422, "validation_failed")


def test_logout_revokes_at_once(client, engine, tenant, app):
    email = set_password(engine, tenant.user_ids["engineer"])
    token = login(client, email).get_json()["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # now cached in this process
    resp = client.post("/api/v1/auth/logout", headers=bearer(token))
    assert resp.status_code == 204 and resp.data == b""
    assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    assert client.get("/api/v1/me", headers=tenant.h("engineer")).status_code == 200  # other tokens live on


def test_expired_login_token_is_401(settings, engine, tenant):
    from web import create_app

    app = create_app(settings.model_copy(update={"flowpilot_login_token_ttl_s": 1.0}))
    try:
        client = app.test_client()
        email = set_password(engine, tenant.user_ids["engineer"])
        token = login(client, email).get_json()["token"]
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # cached, but only until expiry
        time.sleep(1.3)
        assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    finally:
        app.extensions["flowpilot"].dispose()


def test_api_token_with_an_expiry_in_the_past_is_401(client, engine, tenant, app):
    with transaction(engine, SYSTEM) as db:
        db.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = :u"),
                   {"u": tenant.user_ids["l1"]})
    app.extensions["flowpilot"].principals.clear()
    assert_problem(client.get("/api/v1/me", headers=tenant.h("l1")), 401, "unauthorized")


def test_last_used_at_is_written_at_most_once_a_minute(client, engine, tenant, app):
    uid = tenant.user_ids["engineer"]

    def last_used():
        with transaction(engine, SYSTEM) as db:
            return db.execute(select(ApiToken.last_used_at).where(ApiToken.user_id == uid)).scalar_one()

    assert last_used() is None
    client.get("/api/v1/me", headers=tenant.h("engineer"))
    first = last_used()
    assert first is not None
    app.extensions["flowpilot"].principals.clear()  # force a lookup: still within the minute, no write
    client.get("/api/v1/me", headers=tenant.h("engineer"))
    assert last_used() == first
    with transaction(engine, SYSTEM) as db:
        db.execute(text("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE user_id = :u"),
                   {"u": uid})
    app.extensions["flowpilot"].principals.clear()
    assert client.get(f"/api/v1/ai-sessions/{uuid.uuid4()}", headers=tenant.h("engineer")).status_code == 404
    assert last_used() > first  # written even though the request itself failed


def test_admins_list_and_revoke_their_accounts_tokens(client, engine, tenant, other_tenant):
    email = set_password(engine, tenant.user_ids["engineer"])
    login_token = login(client, email).get_json()["token"]
    listed = client.get("/api/v1/tokens", headers=tenant.h("admin"))
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert len(items) == 5  # four API tokens of the fixture plus the login
    mine = [t for t in items if t["current"]]
    assert len(mine) == 1 and mine[0]["user_id"] == str(tenant.user_ids["admin"])
    login_row = next(t for t in items if t["kind"] == "login")
    assert login_row["user_email"] == email and login_row["expires_at"] and login_row["prefix"] == login_token[:10]
    assert login_token not in listed.get_data(as_text=True)
    assert other_tenant.tokens["admin"][:10] not in listed.get_data(as_text=True)

    assert_problem(client.get("/api/v1/tokens", headers=tenant.h("engineer")), 403, "forbidden")
    # Another tenant's token id is simply not found, and stays valid.
    foreign = client.get("/api/v1/tokens", headers=other_tenant.h("admin")).get_json()["items"][0]["id"]
    assert_problem(client.delete(f"/api/v1/tokens/{foreign}", headers=tenant.h("admin")), 404, "token_not_found")

    assert client.get("/api/v1/me", headers=bearer(login_token)).status_code == 200  # cached now
    revoked = client.delete(f"/api/v1/tokens/{login_row['id']}", headers=tenant.h("admin"))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert_problem(client.get("/api/v1/me", headers=bearer(login_token)), 401, "unauthorized")
    assert len(client.get("/api/v1/tokens", headers=tenant.h("admin")).get_json()["items"]) == 4
    everything = client.get("/api/v1/tokens?include_inactive=true", headers=tenant.h("admin")).get_json()["items"]
    assert len(everything) == 5
    assert client.delete(f"/api/v1/tokens/{login_row['id']}", headers=tenant.h("admin")).status_code == 200  # idempotent


def test_operators_sign_in_too(client, engine, operator):
    token = operator["Authorization"].split(" ", 1)[1]
    me = client.get("/api/v1/me", headers=operator).get_json()
    assert me["role"] == "operator" and me["is_operator"] and me["account_id"] is None
    set_password(engine, uuid.UUID(me["id"]))
    body = login(client, me["email"]).get_json()
    assert body["user"]["role"] == "operator" and body["token"] != token
    assert client.get("/api/v1/ops/queues", headers=bearer(body["token"])).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(body["token"])).status_code == 204


@pytest.mark.parametrize("password", ["short", ""])
def test_weak_passwords_are_refused_by_the_cli(app, tenant, password):
    result = app.test_cli_runner().invoke(args=["users", "set-password", "--email", "x@example.test"],
                                          input=password + "\n")
    assert result.exit_code != 0 and "at least" in result.output


def test_sign_in_refuses_when_the_attempt_counters_are_unreachable(settings, engine, tenant):
    """Without Redis there is no limit on guessing: sign-in answers 503 instead of checking passwords."""
    from web import create_app

    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        email = set_password(engine, tenant.user_ids["engineer"])
        body = assert_problem(login(app.test_client(), email), 503, "sign_in_unavailable")
        assert PASSWORD not in str(body)
    finally:
        app.extensions["flowpilot"].dispose()
