"""People of the account through the API (the admin page's People section): list, add with a given or generated
password, reset a password (ending that user's sign-ins), the owner-only rules, and a person's own change."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from db.engine import SYSTEM, transaction
from db.models import ApiToken, User
from tests.helpers import assert_problem
from tests.web.test_auth_login import bearer, login, set_password


def add(client, tenant, role: str = "engineer", by: str = "admin", **body):
    body = {"email": f"new-{uuid.uuid4().hex[:6]}@acme.test", "role": role, **body}
    return client.post("/api/v1/users", json=body, headers=tenant.h(by))


def test_admins_list_the_accounts_users_with_roles(client, tenant, other_tenant):
    resp = client.get("/api/v1/users", headers=tenant.h("admin"))
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert {i["id"] for i in items} == {str(u) for u in tenant.user_ids.values()}  # never another tenant's
    assert {i["role"] for i in items} == {"l1", "engineer", "admin", "owner"}
    assert all(set(i) == {"id", "email", "role", "is_active", "can_sign_in", "created_at"} for i in items)
    for role in ("l1", "engineer"):
        assert_problem(client.get("/api/v1/users", headers=tenant.h(role)), 403, "forbidden")


def test_a_generated_password_is_shown_once_and_signs_in(client, tenant, engine):
    resp = add(client, tenant, "l1")
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    password, user = body["password"], body["user"]
    assert len(password) >= 16 and user["role"] == "l1" and user["can_sign_in"] is True
    with transaction(engine, SYSTEM) as db:
        stored = db.get(User, uuid.UUID(user["id"]))
        assert stored.account_id == tenant.account_id and password not in (stored.password_hash or "")
    signed_in = login(client, user["email"], password)
    assert signed_in.status_code == 200 and signed_in.get_json()["user"]["role"] == "l1"
    listed = client.get("/api/v1/users", headers=tenant.h("admin")).get_json()["items"]
    assert user["id"] in {i["id"] for i in listed} and all("password" not in i for i in listed)


def test_a_chosen_password_is_not_echoed(client, tenant):
    resp = add(client, tenant, password="chosen by the admin 42")
    assert resp.status_code == 201 and resp.get_json()["password"] is None
    assert login(client, resp.get_json()["user"]["email"], "chosen by the admin 42").status_code == 200


@pytest.mark.parametrize("body, code", [
    ({"password": "short"}, "weak_password"),
    ({"email": "not an email"}, "validation_failed"),
    ({"role": "operator"}, "validation_failed"),
])
def test_bad_input_is_422_and_adds_nobody(client, tenant, engine, body, code):
    before = client.get("/api/v1/users", headers=tenant.h("admin")).get_json()["items"]
    assert_problem(add(client, tenant, **body), 422, code)
    assert client.get("/api/v1/users", headers=tenant.h("admin")).get_json()["items"] == before


def test_an_address_in_use_anywhere_is_409(client, tenant, other_tenant, engine):
    email = set_password(engine, other_tenant.user_ids["engineer"])  # signs in, in another account
    assert_problem(add(client, tenant, email=email.upper()), 409, "email_taken")
    mine = client.get("/api/v1/me", headers=tenant.h("l1")).get_json()["email"]
    assert_problem(add(client, tenant, email=mine), 409, "email_taken")


def test_only_owners_add_owners_or_reset_an_owners_password(client, tenant):
    assert_problem(add(client, tenant, "owner"), 403, "owner_only")
    owner = str(tenant.user_ids["owner"])
    assert_problem(client.post(f"/api/v1/users/{owner}/password", json={}, headers=tenant.h("admin")), 403, "owner_only")
    assert add(client, tenant, "owner", by="owner").status_code == 201
    assert client.post(f"/api/v1/users/{tenant.user_ids['admin']}/password", json={},
                       headers=tenant.h("owner")).status_code == 200


def test_a_reset_ends_the_users_sign_ins_and_the_new_password_works(client, tenant, engine):
    email = set_password(engine, tenant.user_ids["engineer"])
    old = login(client, email).get_json()["token"]
    assert client.get("/api/v1/me", headers=bearer(old)).status_code == 200
    resp = client.post(f"/api/v1/users/{tenant.user_ids['engineer']}/password", json={}, headers=tenant.h("admin"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["sign_ins_ended"] == 1 and body["password"]
    assert client.get("/api/v1/me", headers=bearer(old)).status_code == 401  # at once, in this process too
    assert client.get("/api/v1/me", headers=tenant.h("engineer")).status_code == 200  # API tokens stay
    assert_problem(login(client, email), 401, "invalid_credentials")
    assert login(client, email, body["password"]).status_code == 200


def test_reset_refuses_yourself_other_tenants_and_unknown_ids(client, tenant, other_tenant):
    me = tenant.user_ids["admin"]
    assert_problem(client.post(f"/api/v1/users/{me}/password", json={}, headers=tenant.h("admin")), 400, "own_password")
    for user_id in (other_tenant.user_ids["engineer"], uuid.uuid4()):
        assert_problem(client.post(f"/api/v1/users/{user_id}/password", json={}, headers=tenant.h("admin")), 404,
                       "user_not_found")


def test_anyone_changes_their_own_password_keeping_this_sign_in(client, tenant, engine):
    email = set_password(engine, tenant.user_ids["l1"])
    here, elsewhere = login(client, email).get_json()["token"], login(client, email).get_json()["token"]
    wrong = client.post("/api/v1/me/password", json={"current_password": "nope nope nope", "new_password": "x" * 12},
                        headers=bearer(here))
    assert_problem(wrong, 400, "wrong_password")  # not 401: the page must not sign the person out
    weak = client.post("/api/v1/me/password", json={"current_password": "correct horse battery staple",
                                                    "new_password": "short"}, headers=bearer(here))
    assert_problem(weak, 422, "weak_password")
    ok = client.post("/api/v1/me/password", json={"current_password": "correct horse battery staple",
                                                  "new_password": "a brand new passphrase"}, headers=bearer(here))
    assert ok.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(here)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(elsewhere)).status_code == 401
    assert login(client, email, "a brand new passphrase").status_code == 200
    with transaction(engine, SYSTEM) as db:
        live = db.execute(select(ApiToken).where(ApiToken.user_id == tenant.user_ids["l1"], ApiToken.kind == "login",
                                                 ApiToken.revoked_at.is_(None))).scalars().all()
        assert len(live) == 2  # this sign-in and the one just made


def test_guessing_the_current_password_is_limited_like_sign_in(client, tenant, engine):
    email = set_password(engine, tenant.user_ids["engineer"])
    token = login(client, email).get_json()["token"]
    codes = [client.post("/api/v1/me/password", json={"current_password": f"guess {i}", "new_password": "x" * 12},
                         headers=bearer(token)).status_code for i in range(12)]
    assert 429 in codes and codes.index(429) > 0
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
